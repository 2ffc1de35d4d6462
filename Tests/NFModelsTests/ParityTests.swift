import Foundation
import NFModels
import NFTensors
import Testing

/// Every parity fixture — ResNets, XBNBlock ResNets (P1/P2/P3 on basic and bottleneck blocks)
/// and NormFreeNets (NF-ResNets, NF-RegNet, NFNets, dm_nfnet_f0...f6): nfserve's logits equal
/// timm's within 1e-3 of the logit scale (max |logit|, at least 1), and its parameter count is
/// timm's. Expected numbers come from PyTorch 2.15 + timm 1.0.31 through
/// tools/reference/make_parity_fixtures.py (seeded per case).
@Suite struct ParityTests {
    static let cases = ParityFixtures.cases(families: ["resnet", "xbn", "nfnet"])

    @Test func fixturesArePresent() {
        #expect(Self.cases.filter { $0.family == "resnet" }.count >= 8, "run tools/reference/make_parity_fixtures.py")
        #expect(Self.cases.filter { $0.family == "xbn" }.count >= 6)
        #expect(Self.cases.filter { $0.family == "nfnet" }.count >= 16)
    }

    @Test(arguments: cases)
    func logitsMatchTimm(_ c: ParityCase) throws {
        let model = try CheckpointFolder.load(c.directory.path)
        let (input, expected) = try ParityFixtures.io(c)
        let logits = try model.classifier(input)
        #expect(logits.shape == expected.shape)
        let scale = max(1, expected.maxAbs)
        let error = logits.maxAbsDifference(expected)
        #expect(error <= 1e-3 * scale, "\(c.name): max logit error \(error) at logit scale \(scale)")
        // manifest num_params counts every float tensor in the file: timm's parameters plus the
        // BatchNorm running statistics.
        let runningStatistics = model.classifier.batchNormLayers.reduce(0) { $0 + 2 * $1.channels }
        #expect(model.classifier.parameterCount + runningStatistics == c.parameterCount, "parameter count differs from timm's")
    }
}
