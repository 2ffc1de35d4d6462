import Foundation
import Logging
import NFPipeline
import Synchronization

/// Every model folder of `--checkpoints` (the model repository) and how far its loading got.
///
/// The folders are listed when the store is made, so `/models` names them all from the first
/// request on; `loadAll` then loads them one by one (in the background, see
/// `ModelLoadingService`). A folder that fails stays listed with its error; the others serve.
/// The admin routes reload a folder (`reload`: the old version serves until the new one
/// replaces it in one step, and keeps serving when the new one fails) or unload one.
public final class ModelStore: Sendable {
    public enum Status: Sendable {
        case loading
        case ready(ModelPipeline)
        case failed(String)
        /// Unloaded by an admin, or a folder that appeared since the start and was never loaded.
        case unloaded(String)

        /// `ready`, `loading`, `failed` or `unloaded`, as `/models` reports it.
        public var name: String {
            switch self {
            case .ready: "ready"
            case .loading: "loading"
            case .failed: "failed"
            case .unloaded: "unloaded"
            }
        }
    }

    /// A model whose BatchNorm statistics were replaced (AdaBN): the checkpoint's version, kept
    /// for `restore`, and what the statistics in use were measured on.
    public struct Recalibration: Sendable {
        public let checkpoint: ModelPipeline
        public let source: String
        public let images: Int
    }

    public struct Entry: Sendable {
        public let name: String
        public let directory: String
        public var status: Status
        public var recalibration: Recalibration?

        public init(name: String, directory: String, status: Status, recalibration: Recalibration? = nil) {
            self.name = name
            self.directory = directory
            self.status = status
            self.recalibration = recalibration
        }

        /// "checkpoint", or "recalibrated on SOURCE (N images)".
        public var statistics: String {
            recalibration.map { "recalibrated on \($0.source) (\($0.images) images)" } ?? "checkpoint"
        }

        public var model: ModelPipeline? {
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
    /// The repository folder (nil for a store made from entries).
    private let root: URL?

    /// Lists the sub-folders of `checkpoints` (hidden ones skipped; links to folders count, as in
    /// the Hugging Face cache), sorted by name. A missing
    /// folder is logged and leaves the store empty rather than stopping the server.
    public init(checkpoints: String, logger: Logger) {
        let root = URL(fileURLWithPath: checkpoints)
        var entries: [Entry] = []
        do {
            entries = try Self.folders(in: root).map { Entry(name: $0.name, directory: $0.path, status: .loading) }
        } catch {
            logger.warning("no checkpoints served: cannot list \(checkpoints): \(error.localizedDescription)")
        }
        self.root = root
        state = Mutex(State(entries: entries))
    }

    /// The models of `source`: the folders of a repository (`init(checkpoints:logger:)`), or the
    /// one folder of a single model.
    public convenience init(source: ModelSource, logger: Logger) {
        switch source {
        case let .repository(checkpoints): self.init(checkpoints: checkpoints, logger: logger)
        case let .single(name, directory): self.init(entries: [Entry(name: name, directory: directory, status: .loading)], finished: false)
        }
    }

    /// A store with the given entries (tests); `root` lets `reload` find folders by name.
    public init(entries: [Entry], finished: Bool, root: String? = nil) {
        self.root = root.map { URL(fileURLWithPath: $0) }
        state = Mutex(State(entries: entries, finished: finished))
    }

    /// The sub-folders of `root` (hidden ones skipped; links to folders count, as in the
    /// Hugging Face cache), sorted by name.
    private static func folders(in root: URL) throws -> [(name: String, path: String)] {
        let children = try FileManager.default.contentsOfDirectory(
            at: root, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles])
        return children.filter(\.isDirectoryFollowingLinks)
            .map { ($0.lastPathComponent, $0.path) }
            .sorted { $0.name < $1.name }
    }

    public var entries: [Entry] { state.withLock { $0.entries } }
    public var isReady: Bool { state.withLock { $0.finished } }

    public func entry(named name: String) -> Entry? {
        state.withLock { $0.entries.first { $0.name == name } }
    }

    /// The model `name` if it serves; `unknownModel` for a name not in the store, `modelUnavailable` while it loads or
    /// when it failed (with the reason). (An untyped throw: with `throws(ServingError)` inlined into
    /// the async routes, swift-frontend 6.3.1 crashes splitting the coroutine in release builds.)
    public func servedModel(named name: String) throws -> ModelPipeline {
        guard let entry = entry(named: name) else {
            throw ServingError.unknownModel(name, known: entries.map(\.name))
        }
        switch entry.status {
        case let .ready(model): return model
        case .loading:
            throw ServingError(.modelUnavailable, "model \"\(name)\" is still loading; retry shortly (GET /v2/health/ready says when all are loaded)")
        case let .failed(reason): throw ServingError(.modelUnavailable, "model \"\(name)\" failed to load: \(reason)")
        case let .unloaded(reason):
            throw ServingError(
                .modelUnavailable, "model \"\(name)\" is not loaded (\(reason)); an admin loads it with POST /v2/repository/models/\(name)/load")
        }
    }

    /// Swaps in `recalibrated` for the model `name` that `current` still serves, in one step: a
    /// request holds the version it started with, so it sees the old statistics or the new ones,
    /// never a mix. False when the model changed meanwhile (reloaded, unloaded, recalibrated).
    public func swapStatistics(_ name: String, from current: ModelPipeline, to recalibrated: ModelPipeline, source: String, images: Int) -> Bool {
        state.withLock { state in
            guard let i = state.entries.firstIndex(where: { $0.name == name }), case let .ready(serving) = state.entries[i].status,
                serving.version === current.version
            else { return false }
            let checkpoint = state.entries[i].recalibration?.checkpoint ?? current
            state.entries[i].status = .ready(recalibrated)
            state.entries[i].recalibration = Recalibration(checkpoint: checkpoint, source: source, images: images)
            return true
        }
    }

    /// Brings the checkpoint's statistics back; false when they are already in use.
    public func restoreStatistics(_ name: String) -> Bool {
        state.withLock { state in
            guard let i = state.entries.firstIndex(where: { $0.name == name }), let recalibration = state.entries[i].recalibration,
                case .ready = state.entries[i].status
            else { return false }
            state.entries[i].status = .ready(recalibration.checkpoint)
            state.entries[i].recalibration = nil
            return true
        }
    }

    /// Lists folders added to the repository since the start as `unloaded` (Triton's index
    /// shows what is on disk); entries whose folder is gone stay as they are.
    public func rescan() {
        guard let root, let folders = try? Self.folders(in: root) else { return }
        state.withLock { state in
            for folder in folders where !state.entries.contains(where: { $0.name == folder.name }) {
                state.entries.append(Entry(name: folder.name, directory: folder.path, status: .unloaded("not loaded")))
            }
            state.entries.sort { $0.name < $1.name }
        }
    }

    /// Loads the folder `name` of the repository anew with `load` and swaps it in: a request
    /// sees the old version or the new one, never neither. When loading fails, a version that
    /// was serving keeps serving, and the error says why (`loadFailed`); `noSuchFolder` when no such folder exists.
    public func reload(
        _ name: String, logger: Logger, load: (_ directory: String, _ name: String) async throws -> ModelPipeline
    ) async throws -> ModelPipeline {
        guard let directory = directory(forName: name) else {
            throw ServingError(.noSuchFolder, "no model folder \"\(name)\" in the checkpoints folder")
        }
        let start = ContinuousClock.now
        do {
            let model = try await load(directory, name)
            set(name, directory: directory, status: .ready(model))
            logger.info("reloaded \(name) in \(ContinuousClock.now - start)")
            return model
        } catch {
            let kept = entry(named: name)?.model != nil
            if !kept { set(name, directory: directory, status: .failed("\(error)")) }
            logger.error("reloading \(name) failed\(kept ? " (the loaded version keeps serving)" : ""): \(error)")
            throw ServingError(.loadFailed, "model \"\(name)\" failed to load: \(error)\(kept ? "; the version loaded before keeps serving" : "")")
        }
    }

    /// Stops serving `name`; requests that already have the model finish on it.
    public func unload(_ name: String) throws(ServingError) {
        try state.withLock { state throws(ServingError) in
            guard let index = state.entries.firstIndex(where: { $0.name == name }) else {
                throw ServingError.unknownModel(name, known: state.entries.map(\.name))
            }
            state.entries[index].status = .unloaded("unloaded by an admin request")
            state.entries[index].recalibration = nil
        }
    }

    /// The folder of model `name`: its entry's, or a sub-folder of the repository of that name.
    /// Names are single path components, so no request reaches outside the repository.
    private func directory(forName name: String) -> String? {
        if let entry = entry(named: name) { return entry.directory }
        guard let root, !name.isEmpty, name != ".", name != "..", !name.hasPrefix("."), !name.contains("/") else { return nil }
        let folder = root.appendingPathComponent(name)
        return folder.isDirectoryFollowingLinks ? folder.path : nil
    }

    private func set(_ name: String, directory: String, status: Status) {
        state.withLock { state in
            if let index = state.entries.firstIndex(where: { $0.name == name }) {
                state.entries[index].status = status
                state.entries[index].recalibration = nil
            } else {
                state.entries.append(Entry(name: name, directory: directory, status: status))
                state.entries.sort { $0.name < $1.name }
            }
        }
    }

    /// Tries every listed folder in turn with `load` and records the outcome.
    public func loadAll(logger: Logger, load: (_ directory: String, _ name: String) async throws -> ModelPipeline) async {
        for entry in entries {
            let start = ContinuousClock.now
            let status: Status
            do {
                let model = try await load(entry.directory, entry.name)
                status = .ready(model)
                logger.info(
                    "loaded \(entry.name): \(model.classifier.architecture), \(model.classifier.parameterCount) parameters, \(model.flops) FLOPs at \(model.inputSize), in \(ContinuousClock.now - start)"
                )
            } catch {
                status = .failed("\(error)")
                logger.error("model \(entry.name) failed to load: \(error)")
            }
            state.withLock { state in
                // An admin may have loaded or unloaded it meanwhile; that decision stands.
                if let index = state.entries.firstIndex(where: { $0.name == entry.name }),
                    case .loading = state.entries[index].status
                {
                    state.entries[index].status = status
                    state.entries[index].recalibration = nil
                }
            }
        }
        state.withLock { $0.finished = true }
    }
}

extension URL {
    /// Whether the path is a folder, or a symbolic link to one.
    public var isDirectoryFollowingLinks: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
