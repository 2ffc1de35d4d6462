import Foundation
import NFCheckpoint
import NFTensors
import Testing

/// The parity fixtures written by tools/reference/make_parity_fixtures.py (PyTorch + timm,
/// seeded; see that script and Tests/Fixtures/parity/manifest.json): per case a checkpoint
/// folder (config.json, model.safetensors) and io.safetensors with timm's `input` and `logits`.
struct ParityCase: CustomTestStringConvertible, Sendable {
    let name: String
    let family: String
    let directory: URL
    /// Elements of every floating-point tensor in model.safetensors (manifest `num_params`).
    let parameterCount: Int?
    var testDescription: String { name }
}

enum ParityFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity")

    static func cases(families: Set<String>) -> [ParityCase] {
        guard let data = try? Data(contentsOf: root.appendingPathComponent("manifest.json")),
            let json = try? JSONSerialization.jsonObject(with: data)
        else { return [] }
        let list = (json as? [[String: Any]]) ?? ((json as? [String: Any])?["cases"] as? [[String: Any]]) ?? []
        return list.compactMap { entry in
            guard let name = entry["case"] as? String, let family = entry["family"] as? String,
                families.contains(family)
            else { return nil }
            return ParityCase(
                name: name, family: family, directory: root.appendingPathComponent(name),
                parameterCount: entry["num_params"] as? Int)
        }
    }

    static func io(_ c: ParityCase) throws -> (input: Tensor, logits: Tensor) {
        let file = try SafeTensorsFile(path: c.directory.appendingPathComponent("io.safetensors").path)
        func tensor(_ name: String) throws -> Tensor {
            Tensor(shape: file.info(name)!.shape, storage: try file.floats(name))
        }
        return (try tensor("input"), try tensor("logits"))
    }
}
