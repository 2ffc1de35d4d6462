import Foundation
import NFDatasets
import NFPipeline
import NFTestSupport
import Testing

@testable import NFDiagnostics

/// BatchNorm's estimation shift against PyTorch: Tests/Fixtures/esm/fashion_mnist_test.json,
/// written by tools/reference/make_esm_fixtures.py (timm models in eval mode, forward pre-hooks
/// on every normalization module, moments in float64 over the first 2000 Fashion-MNIST test
/// images, preprocessed by timm's eval transform), for the shipped BatchNorm and XBNBlock
/// checkpoints; and AdaBN's layer-by-layer recalibration on the same images.
@Suite(.serialized, .machineLoad(.exclusive)) struct EstimationShiftReferenceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Fixture: Decodable {
        struct Model: Decodable {
            var model_dir: String
            var layers: [EstimationShiftLayer]
            var top1: Double
        }
        struct Layer: Decodable {
            var name: String
            var kind: String
            var esm_mean: Double?
            var esm_var: Double?
        }
        struct Recalibrated: Decodable {
            var top1_before: Double
            var top1_after: Double
            var layers: [Layer]
        }
        var dataset: String
        var images: Int
        var models: [String: Model]
        var recalibrated: [String: Recalibrated]
    }

    static let fixture: Fixture = {
        let url = repository.appendingPathComponent("Tests/Fixtures/esm/fashion_mnist_test.json")
        do { return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)) } catch { fatalError("\(url.path): \(error)") }
    }()

    static func pipeline(_ name: String) throws -> ModelPipeline {
        try ModelPipeline.load(directory: repository.appendingPathComponent(fixture.models[name]!.model_dir).path)
    }

    static var dataset: any ImageDataset {
        get throws { try DatasetCatalog(root: repository.appendingPathComponent("datasets").path).open(name: fixture.dataset) }
    }

    /// Every layer in order with its kind and channels; every ESM within 1e-4 relative.
    static func expectEqual(_ ours: [EstimationShiftLayer], _ theirs: [EstimationShiftLayer], tolerance: Double = 1e-4) {
        #expect(ours.map(\.name) == theirs.map(\.name))
        #expect(ours.map(\.kind) == theirs.map(\.kind))
        #expect(ours.map(\.channels) == theirs.map(\.channels))
        for (a, b) in zip(ours, theirs) {
            for (x, y) in [(a.esmMean, b.esmMean), (a.esmVar, b.esmVar)] {
                if let x, let y {
                    #expect(abs(x - y) <= tolerance * abs(y), "\(a.name): \(x) vs PyTorch \(y)")
                } else {
                    #expect(x == nil && y == nil, "\(a.name): \(String(describing: x)) vs \(String(describing: y))")
                }
            }
        }
    }

    @Test(arguments: ["fmnist-resnet-bn", "fmnist-resnet-xbn"])
    func datasetShiftEqualsPyTorch(_ name: String) throws {
        let pipeline = try Self.pipeline(name)
        let (recorder, images) = try EstimationShift.measure(
            pipeline, batches: EstimationShift.batches(pipeline, dataset: try Self.dataset, limit: Self.fixture.images))
        #expect(images == Self.fixture.images)
        Self.expectEqual(EstimationShift.layers(pipeline.classifier, measured: recorder.moments), Self.fixture.models[name]!.layers)
        if name.hasSuffix("xbn") {
            #expect(EstimationShift.layers(pipeline.classifier, measured: recorder.moments).contains { $0.kind == "groupnorm" && $0.esmMean == nil })
        }
    }

    /// After AdaBN on the images the shift on them is below 1e-4 everywhere (PyTorch's is the
    /// float32 rounding of the stored statistics, about 2e-7), and top-1 before and after are
    /// PyTorch's.
    @Test(arguments: ["fmnist-resnet-bn", "fmnist-resnet-xbn"])
    func recalibrationZeroesTheShiftAsPyTorchDoes(_ name: String) throws {
        let pipeline = try Self.pipeline(name)
        let inputs = try EstimationShift.batches(pipeline, dataset: try Self.dataset, limit: Self.fixture.images).map { try $0.get() }
        let (network, statistics) = try EstimationShift.recalibrated(pipeline.classifier, inputs: inputs)
        #expect(statistics.count == pipeline.classifier.batchNormLayers.count)
        let recorder = NormalizationRecorder()
        for input in inputs { _ = try network.forward(input, context: .init(observer: recorder)) }
        let after = EstimationShift.layers(network, measured: recorder.moments)
        #expect(after.allSatisfy { ($0.esmMean ?? 0) < 1e-4 && ($0.esmVar ?? 0) < 1e-4 })
        let reference = Self.fixture.recalibrated[name]!
        #expect(reference.layers.map(\.name) == after.map(\.name))
        #expect(reference.layers.allSatisfy { ($0.esm_mean ?? 0) < 1e-4 && ($0.esm_var ?? 0) < 1e-4 })
        let recalibrated = pipeline.replacing(classifier: network)
        let before = try Evaluation.run(model: pipeline, dataset: try Self.dataset, limit: Self.fixture.images)
        let afterTop1 = try Evaluation.run(model: recalibrated, dataset: try Self.dataset, limit: Self.fixture.images)
        #expect(abs(before.top1 - reference.top1_before) < 1e-9)
        // One image in 2000 may flip on a near-tie between float32 roundings of the statistics.
        #expect(abs(afterTop1.top1 - reference.top1_after) <= 1.0 / Double(Self.fixture.images) + 1e-9)
    }
}
