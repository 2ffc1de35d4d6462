import Foundation
import NFDatasets
import NFModels
import NFPipeline
import Testing

/// `nfserve eval`'s evaluation against PyTorch + timm on the same files: every shipped checkpoint
/// over the shipped sample (300 PNGs), compared image by image with
/// Tests/Fixtures/eval/<model>.sample.tsv, written by tools/reference/make_eval_fixtures.sh
/// (timm's eval transform on PIL images, tools/train/eval_torch.py).
@Suite struct EvaluationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models: [String] = {
        let dir = repository.appendingPathComponent("Tests/Fixtures/eval")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".sample.tsv") }.map { String($0.dropLast(".sample.tsv".count)) }.sorted()
    }()

    @Test func everyShippedCheckpointHasAReference() throws {
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("checkpoints").path)
            .filter { !$0.hasPrefix(".") }.sorted()
        #expect(!shipped.isEmpty)
        #expect(Self.models == shipped, "run tools/reference/make_eval_fixtures.sh")
    }

    @Test(arguments: models)
    func predictionsEqualPyTorchs(_ name: String) throws {
        let model = try ModelPipeline.load(directory: Self.repository.appendingPathComponent("checkpoints/\(name)").path)
        let dataset = try DatasetCatalog(root: Self.repository.appendingPathComponent("datasets").path, debianRoot: "/nonexistent")
            .open("fashion-mnist-sample")
        var predicted: [Int] = []
        let result = try Evaluation.run(model: model, dataset: dataset, batchSize: 50, predictions: { predicted.append($0) })
        let reference = try String(contentsOf: Self.repository.appendingPathComponent("Tests/Fixtures/eval/\(name).sample.tsv"), encoding: .utf8)
            .split(separator: "\n").map { Int($0.split(separator: "\t")[1])! }
        #expect(predicted == reference)
        let json =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Self.repository.appendingPathComponent("Tests/Fixtures/eval/\(name).sample.json"))) as! [String: Any]
        #expect(abs(result.top1 * 100 - (json["top1"] as! Double)) < 1e-3)
        #expect(abs(result.top5 * 100 - (json["top5"] as! Double)) < 1e-3)
        #expect(result.images == 300)
    }
}
