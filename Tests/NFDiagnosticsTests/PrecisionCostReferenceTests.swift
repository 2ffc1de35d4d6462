import Foundation
import NFCheckpoint
import NFDiagnostics
import NFModels
import NFPipeline
import NFTensors
import Testing

/// What int8 costs, against PyTorch: Tests/Fixtures/precision/CASE.json, written by
/// tools/reference/make_precision_fixtures.py (timm 1.0.31; torch 2.15, resnet50's 2.13), which
/// simulates nfserve's int8 arithmetic in PyTorch on four parity fixtures (resnet50, nf_resnet26,
/// dm_nfnet_f0, nf_regnet_b0), with the calibrations in their folders, on their own inputs: the
/// relative error and SQNR of each block's output and of the logits against timm's FP32.
///
/// nfserve's int8 plan is checked against that simulation, and `PrecisionCost` (the diagnostic)
/// against its numbers. They cannot agree to FP32 rounding: a value that lands within rounding of
/// a quantization boundary in one and not the other moves by one level. The simulation folds
/// each BatchNorm into the weights before quantizing them as nfserve does, and quantizes the
/// shortcuts of resnet50's blocks without projection as nfserve's int8 residual stream does:
/// measured when this was written, the int8 logits agree with the simulation's at 129-148 dB on
/// all four (the same levels everywhere). Int8 noise itself is 19-34 dB; quantizing the weights
/// before folding, or shortcuts in FP32, put resnet50 at 29.7 dB. The floor is 60 dB: a few
/// values a level apart pass, a different rule does not. The diagnostic's SQNRs must be within
/// 1 dB of PyTorch's, and its relative errors within 12%.
@Suite struct PrecisionCostReferenceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Fixture: Decodable {
        struct Site: Decodable {
            var index: Int
            var name: String
            var relative_error: Double
            var sqnr_db: Double?
        }
        struct Logits: Decodable {
            var relative_error: Double
            var sqnr_db: Double?
            var top1_agreement: Double
        }
        var sites: [Site]
        var logits: Logits
        var int8_logits: [Float]
        var int8_logits_shape: [Int]
        var fp32_convs: [String]
    }

    @Test(arguments: ["resnet50", "nf_resnet26", "dm_nfnet_f0", "nf_regnet_b0"])
    func matchesPyTorch(_ name: String) throws {
        let fixture = try JSONDecoder().decode(
            Fixture.self, from: Data(contentsOf: Self.repository.appendingPathComponent("Tests/Fixtures/precision/\(name).json")))
        let folder = Self.repository.appendingPathComponent("Tests/Fixtures/parity/\(name)").path
        let io = try SafeTensorsFile(path: folder + "/io.safetensors")
        let input = Tensor(shape: io.info("input")!.shape, storage: try io.floats("input"))
        let model = try ModelPipeline.load(directory: folder, precision: .int8)
        let plan = try #require(model.lowPrecision).plan
        #expect(plan.keptInFP32.map(\.layer) == fixture.fp32_convs)

        let simulated = Tensor(shape: fixture.int8_logits_shape, storage: fixture.int8_logits)
        let logits = try plan.logits(input, observer: nil)
        let agreement = try #require(Comparison(simulated.storage, logits.storage).sqnrDb)
        #expect(agreement >= 60, "\(name): int8 logits vs PyTorch's simulation at \(agreement) dB")

        let report = try PrecisionCost.measure(model, precision: .int8, input: input, described: SignalPropagationInput())
        #expect(report.sites.map(\.name) == fixture.sites.map(\.name))
        for (mine, theirs) in zip(report.sites, fixture.sites) {
            // Where PyTorch's int8 pass equals its FP32 one (a stem with only FP32 convolutions),
            // nfserve's two plans may still differ by FP32 rounding (their layouts' kernels).
            if theirs.sqnr_db == nil { #expect(mine.error.relativeError < 1e-5, "\(name) \(mine.name)") }
            if let a = mine.error.sqnrDb, let b = theirs.sqnr_db {
                #expect(abs(a - b) <= 1, "\(name) \(mine.name): \(a) dB, PyTorch \(b) dB")
                #expect(abs(mine.error.relativeError / theirs.relative_error - 1) <= 0.12, "\(name) \(mine.name) relative error")
            }
        }
        let logitsSQNR = try #require(report.logits.error.sqnrDb)
        #expect(abs(logitsSQNR - fixture.logits.sqnr_db!) <= 1, "\(name) logits: \(logitsSQNR) dB, PyTorch \(fixture.logits.sqnr_db!) dB")
        #expect(report.logits.top1Agreement == fixture.logits.top1_agreement)
    }
}
