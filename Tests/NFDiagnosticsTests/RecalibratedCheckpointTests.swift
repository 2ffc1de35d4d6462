import Foundation
import NFCheckpoint
import NFDatasets
import NFModels
import NFPipeline
import NFTensors
import Testing

@testable import NFDiagnostics

/// `nfserve recalibrate`'s checkpoint (`CheckpointFolder.writeRecalibrated`): the shipped
/// fmnist-resnet-bn recalibrated on 100 images of the repository's Fashion-MNIST sample, written,
/// loaded back. Every tensor but the running statistics keeps its bytes; the estimation shift on
/// the sample falls to rounding. (That timm loads the folder and PyTorch measures the same is
/// tools/reference/check_recalibrated.py's part, run where PyTorch is.)
@Suite struct RecalibratedCheckpointTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func writtenStatisticsAreTheRecalibratedOnes() throws {
        let source = Self.repository.appendingPathComponent("checkpoints/fmnist-resnet-bn").path
        let pipeline = try ModelPipeline.load(directory: source)
        let dataset = try DatasetCatalog(root: Self.repository.appendingPathComponent("datasets").path).open(name: "fashion-mnist-sample")
        let inputs = try EstimationShift.batches(pipeline, dataset: dataset, limit: 100).map { try $0.get() }
        let (_, statistics) = try EstimationShift.recalibrated(pipeline.classifier, inputs: inputs)
        #expect(statistics.count == pipeline.classifier.batchNormLayers.count)

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-recalibrated-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try CheckpointFolder.writeRecalibrated(from: source, to: out, statistics: statistics, metadata: ["nfserve_statistics": "test"])
        // A destination that exists is refused, not overwritten.
        #expect(throws: ModelBuildError.self) { try CheckpointFolder.writeRecalibrated(from: source, to: out, statistics: statistics) }
        #expect(FileManager.default.contentsEqual(atPath: source + "/config.json", andPath: out + "/config.json"))

        let original = try SafeTensorsFile(path: source + "/model.safetensors")
        let written = try SafeTensorsFile(path: out + "/model.safetensors")
        #expect(written.names.sorted() == original.names.sorted())
        #expect(written.metadata["nfserve_statistics"] == "test")
        var replaced = 0
        for name in original.names {
            let layer = String(name[..<(name.lastIndex(of: ".") ?? name.endIndex)])
            if let new = statistics[layer], name.hasSuffix(".running_mean") || name.hasSuffix(".running_var") {
                #expect(try written.floats(name) == (name.hasSuffix(".running_mean") ? new.mean : new.variance))
                replaced += 1
            } else {
                #expect(try written.bytes(name) == original.bytes(name), "\(name) kept as it was")
                #expect(written.info(name)?.dtype == original.info(name)?.dtype && written.info(name)?.shape == original.info(name)?.shape)
            }
        }
        #expect(replaced == 2 * statistics.count)

        let loaded = try ModelPipeline.load(directory: out)
        let before = EstimationShift.layers(pipeline.classifier, measured: try EstimationShift.inputMoments(pipeline.classifier, inputs: inputs))
        let after = EstimationShift.layers(loaded.classifier, measured: try EstimationShift.inputMoments(loaded.classifier, inputs: inputs))
        for (b, a) in zip(before, after) where b.kind == "batchnorm" {
            #expect(a.esmMean! < 1e-5 && a.esmVar! < 1e-5, "\(a.name): \(a.esmMean!), \(a.esmVar!) after, \(b.esmMean!) before")
        }
        #expect(before.compactMap(\.esmMean).max()! > 0.1, "the sample did shift the checkpoint's statistics")
    }
}
