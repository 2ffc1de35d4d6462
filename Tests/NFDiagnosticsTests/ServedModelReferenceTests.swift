import Foundation
import NFDatasets
import NFPipeline
import Testing

@testable import NFDiagnostics

/// The SPP of every shipped checkpoint and of two timm models from the parity fixtures against
/// PyTorch: Tests/Fixtures/spp/served_models.json, written by tools/reference/make_spp_fixtures.py
/// (timm models, forward hooks at the same sites, statistics in float64). The Gaussian inputs
/// are nfserve's seeded generator reproduced in Python, so both sides see the same tensor; the
/// dataset inputs are the first 8 Fashion-MNIST test images through timm's eval transform.
@Suite struct ServedModelReferenceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Fixture: Decodable {
        struct Case: Decodable, CustomTestStringConvertible {
            var `case`: String
            var model_dir: String
            var input: SignalPropagationInput
            var post_activation: Bool
            var points: [SignalPropagationPoint]
            var testDescription: String { `case` }
        }
        var cases: [Case]
    }

    static let cases: [Fixture.Case] = {
        let url = repository.appendingPathComponent("Tests/Fixtures/spp/served_models.json")
        return (try? JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)).cases) ?? []
    }()

    @Test func fixtureCoversEveryShippedCheckpoint() throws {
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("checkpoints").path)
            .filter { !$0.hasPrefix(".") }
        for name in shipped {
            #expect(Self.cases.contains { $0.model_dir == "checkpoints/\(name)" && $0.input.source == .gaussian })
            #expect(Self.cases.contains { $0.model_dir == "checkpoints/\(name)" && $0.input.source == .dataset })
        }
        #expect(Self.cases.contains { $0.model_dir.hasPrefix("Tests/Fixtures/parity/") })
    }

    /// Every statistic within 1e-4 relative. A squared mean that is 0 up to rounding (a
    /// BatchNorm's output channel) is compared relative to the point's variance instead: its
    /// own relative error is float noise.
    @Test(arguments: cases)
    func equalsPyTorch(_ reference: Fixture.Case) throws {
        let pipeline = try ModelPipeline.load(directory: Self.repository.appendingPathComponent(reference.model_dir).path)
        let catalog = DatasetCatalog(root: Self.repository.appendingPathComponent("datasets").path)
        var input = reference.input
        input.channels = nil
        if input.source == .dataset { input.size = nil }
        let report = try SignalPropagation.measure(pipeline, input: input, openDataset: { try catalog.open(name: $0) })
        #expect(report.points.map(\.name) == reference.points.map(\.name))
        #expect(report.points.map(\.stage) == reference.points.map(\.stage))
        #expect(report.blockOutput.contains("before the ReLU") == reference.post_activation)
        func close(_ a: Double?, _ b: Double?, scale: Double) -> Bool {
            guard let a, let b else { return a == nil && b == nil }
            return abs(a - b) <= 1e-4 * max(abs(b), scale)
        }
        for (point, expected) in zip(report.points, reference.points) {
            let scale = expected.averageChannelVariance * 1e-3
            #expect(
                close(point.averageSquaredChannelMean, expected.averageSquaredChannelMean, scale: scale),
                "\(point.name): \(point.averageSquaredChannelMean) vs \(expected.averageSquaredChannelMean)")
            #expect(
                close(point.averageChannelVariance, expected.averageChannelVariance, scale: 0),
                "\(point.name): \(point.averageChannelVariance) vs \(expected.averageChannelVariance)")
            #expect(
                close(point.residualVariance, expected.residualVariance, scale: 0),
                "\(point.name): \(String(describing: point.residualVariance)) vs \(String(describing: expected.residualVariance))")
            #expect(close(point.expectedVariance, expected.expectedVariance, scale: 0), "\(point.name) expected_var")
        }
    }
}
