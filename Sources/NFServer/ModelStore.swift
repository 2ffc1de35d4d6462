import Foundation
import Logging
import Synchronization

/// Every model folder of `--checkpoints` and how far its loading got.
///
/// The folders are listed when the store is made, so `/models` names them all from the first
/// request on; `loadAll` then loads them one by one (in the background, see
/// `ModelLoadingService`). A folder that fails stays listed with its error; the others serve.
final class ModelStore: Sendable {
    enum Status: Sendable {
        case loading
        case ready(ServedModel)
        case failed(String)

        /// `ready`, `loading` or `failed`, as `/models` reports it.
        var name: String {
            switch self {
            case .ready: "ready"
            case .loading: "loading"
            case .failed: "failed"
            }
        }
    }

    struct Entry: Sendable {
        let name: String
        let directory: String
        var status: Status

        var model: ServedModel? {
            if case let .ready(model) = status { return model }
            return nil
        }
    }

    private struct State {
        var entries: [Entry]
        /// Set once every folder has been tried, whatever the outcome (`/v2/health/ready`).
        var finished = false
    }

    private let state: Mutex<State>

    /// Lists the sub-folders of `checkpoints` (hidden ones skipped; links to folders count, as in
    /// the Hugging Face cache), sorted by name. A missing
    /// folder is logged and leaves the store empty rather than stopping the server.
    init(checkpoints: String, logger: Logger) {
        let root = URL(fileURLWithPath: checkpoints)
        var entries: [Entry] = []
        do {
            let children = try FileManager.default.contentsOfDirectory(
                at: root, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles])
            for child in children where child.isDirectoryFollowingLinks {
                entries.append(Entry(name: child.lastPathComponent, directory: child.path, status: .loading))
            }
        } catch {
            logger.warning("no checkpoints served: cannot list \(checkpoints): \(error.localizedDescription)")
        }
        entries.sort { $0.name < $1.name }
        state = Mutex(State(entries: entries))
    }

    /// A store with the given entries (tests).
    init(entries: [Entry], finished: Bool) {
        state = Mutex(State(entries: entries, finished: finished))
    }

    var entries: [Entry] { state.withLock { $0.entries } }
    var isReady: Bool { state.withLock { $0.finished } }

    func entry(named name: String) -> Entry? {
        state.withLock { $0.entries.first { $0.name == name } }
    }

    /// The model `name` if it serves; 404 for a name not in the store, 503 while it loads or
    /// when it failed (with the reason).
    func servedModel(named name: String) throws(APIError) -> ServedModel {
        guard let entry = entry(named: name) else {
            throw APIError.unknownModel(name, known: entries.map(\.name))
        }
        switch entry.status {
        case let .ready(model): return model
        case .loading: throw APIError(.serviceUnavailable, "model \"\(name)\" is still loading; retry shortly (GET /v2/health/ready says when all are loaded)")
        case let .failed(reason): throw APIError(.serviceUnavailable, "model \"\(name)\" failed to load: \(reason)")
        }
    }

    /// Tries every listed folder in turn with `load` and records the outcome.
    func loadAll(logger: Logger, load: (String) async throws -> ServedModel) async {
        for entry in entries {
            let start = ContinuousClock.now
            let status: Status
            do {
                let model = try await load(entry.directory)
                status = .ready(model)
                logger.info("loaded \(entry.name): \(model.classifier.architecture), \(model.classifier.parameterCount) parameters, \(model.flops) FLOPs at \(model.inputSize), in \(ContinuousClock.now - start)")
            } catch {
                status = .failed("\(error)")
                logger.error("model \(entry.name) failed to load: \(error)")
            }
            state.withLock { state in
                if let index = state.entries.firstIndex(where: { $0.name == entry.name }) {
                    state.entries[index].status = status
                }
            }
        }
        state.withLock { $0.finished = true }
    }
}

extension URL {
    /// Whether the path is a folder, or a symbolic link to one.
    var isDirectoryFollowingLinks: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
