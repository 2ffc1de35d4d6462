import Foundation
import NFCheckpoint

/// Where `nfserve serve` finds its models: a folder of checkpoint folders (the model
/// repository), or one checkpoint folder served under a name, as KServe's storage initializer
/// leaves one model at `/mnt/models`.
public enum ModelSource: Sendable, Equatable {
    /// Each sub-folder of the folder is a model named after it (`--checkpoints`).
    case repository(String)
    /// One checkpoint folder served as `name` (`--model-dir`, or `--checkpoints` naming a
    /// model folder itself).
    case single(name: String, directory: String)

    /// The source `nfserve serve`'s flags name, checked before anything is served: a path that
    /// does not exist is an error (a server with nothing to serve must not report ready).
    /// - `modelDir`: one checkpoint folder, or `hf:ORG/NAME[@REVISION]` in the local Hugging Face
    ///   cache (`HubModelReference`); served as `modelName`, else the folder's name (NAME for `hf:`).
    /// - else `checkpoints`: a folder of model folders, or itself a model folder (it holds
    ///   `config.json`), which is then served as `modelName`, else its own name.
    public static func resolve(
        checkpoints: String, modelDir: String?, modelName: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ModelSourceError) -> ModelSource {
        if let modelName, !isServableName(modelName) {
            throw ModelSourceError(
                "--model-name \"\(modelName)\": a model name is letters, digits, '.', '_' and '-' (not starting with '.'), at most 128 characters")
        }
        if let modelDir {
            let directory: String
            var name = modelName
            do {
                if let reference = try HubModelReference(modelDir) {
                    directory = try reference.snapshot(in: HubModelReference.cacheFolder(environment: environment))
                    name = name ?? reference.name
                } else {
                    directory = modelDir
                }
            } catch {
                throw ModelSourceError("--model-dir: \(error.description)")
            }
            guard isFolder(directory) else { throw ModelSourceError("--model-dir \(modelDir): no such folder") }
            guard isModelFolder(directory) else {
                throw ModelSourceError(
                    "--model-dir \(modelDir) holds no config.json: it is not a checkpoint folder (a folder of checkpoint folders goes to --checkpoints)"
                )
            }
            return .single(name: try servedName(name, directory: directory, flag: "--model-dir"), directory: directory)
        }
        guard isFolder(checkpoints) else {
            throw ModelSourceError("--checkpoints \(checkpoints): no such folder (nothing would be served)")
        }
        if isModelFolder(checkpoints) {
            return .single(name: try servedName(modelName, directory: checkpoints, flag: "--checkpoints"), directory: checkpoints)
        }
        if modelName != nil {
            throw ModelSourceError(
                "--model-name names the one model of --model-dir, or of --checkpoints when it is a checkpoint folder itself; \(checkpoints) holds no config.json"
            )
        }
        return .repository(checkpoints)
    }

    /// Names a request can carry in a path (`/v2/models/{name}`), as KServe's `{{.Name}}` is.
    public static func isServableName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
            }
    }

    private static func servedName(_ given: String?, directory: String, flag: String) throws(ModelSourceError) -> String {
        if let given { return given }
        let folder = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        guard isServableName(folder) else {
            throw ModelSourceError("\(flag) \(directory): the folder's name \"\(folder)\" cannot name a model; give --model-name")
        }
        return folder
    }

    private static func isFolder(_ path: String) -> Bool { URL(fileURLWithPath: path).isDirectoryFollowingLinks }

    private static func isModelFolder(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent("config.json").path)
    }
}

/// Why the models to serve could not be found; the message names the flag and the path.
public struct ModelSourceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
