import Foundation
import NFCheckpoint
import NFLayers
import NFModels

/// `--model NAME_OR_DIR`: a checkpoint folder given by path, by name inside `--checkpoints`, or
/// as `hf:ORG/NAME[@REVISION]` in the local Hugging Face cache. For commands that accept it, a
/// registered architecture name with no such folder builds that architecture with initialized
/// (random, seeded) weights.
enum ModelResolution {
    static func folder(_ nameOrDir: String, checkpoints: String) throws -> String? {
        if let reference = try HubModelReference(nameOrDir) {
            return try reference.snapshot(in: HubModelReference.cacheFolder())
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrDir, isDirectory: &isDir), isDir.boolValue { return nameOrDir }
        let inside = URL(fileURLWithPath: checkpoints).appendingPathComponent(nameOrDir).path
        if FileManager.default.fileExists(atPath: inside, isDirectory: &isDir), isDir.boolValue { return inside }
        return nil
    }

    static func resolve(
        _ nameOrDir: String, checkpoints: String, allowArchitecture: Bool,
        modelArgs: String?
    ) throws -> (name: String, classifier: any ImageClassifier) {
        if let dir = try folder(nameOrDir, checkpoints: checkpoints) {
            let model = try CheckpointFolder.load(dir, name: try HubModelReference(nameOrDir)?.name)
            return (model.name, model.classifier)
        }
        guard allowArchitecture, ModelRegistry.architectures.contains(nameOrDir) else {
            throw ValidationErrorMessage(
                "no checkpoint folder \"\(nameOrDir)\" (looked in the working directory and \(checkpoints))"
                    + (allowArchitecture ? " and it is not a registered architecture" : ""))
        }
        var args: [String: JSONValue] = [:]
        if let modelArgs {
            guard case let .object(object) = try JSONDecoder().decode(JSONValue.self, from: Data(modelArgs.utf8)) else {
                throw ValidationErrorMessage("--model-args must be a JSON object")
            }
            args = object
        }
        let loader = WeightLoader(source: InitializerWeightSource(seed: 0))
        let classifier = try ModelRegistry.build(architecture: nameOrDir, numClasses: nil, modelArgs: args, weights: loader)
        return ("\(nameOrDir) (initialized)", classifier)
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Precision {
    /// `--precision NAME` (nil when not given).
    init?(option: String?) throws {
        guard let option else { return nil }
        guard let known = Precision(rawValue: option) else {
            throw ValidationErrorMessage("--precision must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = known
    }
}
