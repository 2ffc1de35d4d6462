import Foundation
import NFDiagnostics
import NFLayers
import NFModels
import NFTensors
import Testing

/// Int8 execution plans on every parity fixture (tools/reference/make_parity_fixtures.py:
/// PyTorch + timm, seeded per case), calibrated (minmax) on the fixture's own input.
///
/// Against timm's FP32 logits an int8 plan cannot agree to FP32 rounding; it is held to a
/// signal-to-noise ratio instead. 8-bit activations and 7-bit weights give about 40 dB per
/// convolution (`QuantizedConvolutionTests`); the noise adds up over the 8-150 layers of these
/// networks. Measured on the fixtures with every convolution in int8, the first too, and the
/// ResNets' shortcuts quantized (AVX-512 VNNI): ResNets 26.9-43.5 dB, NF-ResNets and NFNets
/// 19.7-40.0 dB, XBNBlock ResNets 29.3-32.0 dB at depth 18 but 10.4-20.3 dB at depth 50 (their
/// GroupNorms follow int8 convolutions); with FP32 shortcuts the ResNets were 26.7-44.3 dB.
/// With the first convolution in FP32 (AVX2, earlier) they were 26.9-44.2, 21.0-40.9, 29.6-33.4
/// and 13.1-20.6 dB. The floors (16 dB; 8 dB for the XBNBlock ResNet-50s) leave room for rounding
/// differences between CPUs and stay far above what a wrong scale gives (checked once by hand:
/// signed sources' scales left undoubled, a factor of 2 on the NFNets' convolutions, put them at
/// -15 to -5 dB). The plan's own observed and unobserved passes run the same int8 arithmetic and
/// agree to FP32 rounding.
@Suite struct Int8PlanTests {
    static let cases = ParityFixtures.cases(families: ["resnet", "xbn", "nfnet"])
    static let minimumSNR = 16.0

    static func floor(_ c: ParityCase) -> Double { c.name.hasPrefix("xbn") && c.name.hasSuffix("resnet50") ? 8 : minimumSNR }

    /// In dB (the diagnostic's own `Comparison`; infinite where they are equal).
    static func snr(_ signal: Tensor, _ approximation: Tensor) -> Double {
        Comparison(signal.storage, approximation.storage).sqnrDb ?? .infinity
    }

    static func calibrate(_ plan: any ExecutionPlan, _ input: Tensor) throws -> Calibration {
        let recorder = CalibrationRecorder()
        _ = try plan.logits(input, observer: recorder)
        return Calibration(method: "minmax", dataset: "fixture", images: input.shape[0], inputs: recorder.ranges(.minmax))
    }

    @Test(arguments: cases)
    func int8PlanFollowsTimm(_ c: ParityCase) throws {
        let model = try CheckpointFolder.load(c.directory.path)
        let (input, expected) = try ParityFixtures.io(c)
        let fp32 = try #require(model.classifier.executionPlan())
        let calibration = try Self.calibrate(fp32, input)
        #expect(try Self.calibrate(fp32, input) == calibration, "\(c.name): calibration is deterministic")
        let plan = try #require(model.classifier.executionPlan(precision: .int8(calibration)))
        let logits = try plan.logits(input, observer: nil)
        let snr = Self.snr(expected, logits)
        #expect(snr >= Self.floor(c), "\(c.name): int8 logits vs timm at \(snr) dB")
        // Every convolution runs in int8, the first (reading the network's input) too.
        #expect(plan.keptInFP32.isEmpty, "\(c.name): \(plan.keptInFP32)")
        #expect(calibration.inputs.count >= 2)

        let observed = try plan.logits(input, observer: Observations(.blocks))
        #expect(observed.maxAbsDifference(logits) <= 1e-3 * max(1, logits.maxAbs), "\(c.name): observed int8 plan")
        // Unobserved, a convolution whose output only the next one reads writes it in u8 or s8 for
        // it; an observer of convolution inputs stops that, and each convolution quantizes its FP32
        // input itself: the same arithmetic.
        let converting = try plan.logits(input, observer: Observations(.convolutionInputs))
        #expect(converting.maxAbsDifference(logits) <= 1e-3 * max(1, logits.maxAbs), "\(c.name): int8 plan without hand-overs")
    }

    @Test func aConvolutionWithoutARangeStaysFP32() throws {
        let c = try #require(Self.cases.first { $0.name.hasPrefix("resnet") })
        let model = try CheckpointFolder.load(c.directory.path)
        let (input, _) = try ParityFixtures.io(c)
        let fp32 = try #require(model.classifier.executionPlan())
        var calibration = try Self.calibrate(fp32, input)
        let dropped = try #require(calibration.inputs.keys.sorted().last)
        calibration.inputs[dropped] = nil
        // The first convolution too (a calibration made before the network's input was recorded).
        #expect(calibration.inputs.removeValue(forKey: "conv1") != nil)
        let plan = try #require(model.classifier.executionPlan(precision: .int8(calibration)))
        #expect(Set(plan.keptInFP32.map(\.layer)) == [dropped, "conv1"])
        #expect(plan.keptInFP32.allSatisfy { $0.reason == "no calibrated range for its input" })
        #expect(Self.snr(try fp32.logits(input, observer: nil), try plan.logits(input, observer: nil)) >= Self.minimumSNR)
    }

    /// Int8 plans compiled and run at once (as several models load and serve on a server) give
    /// what each gives alone: every NF fixture and an XBNBlock one (signed int8 sources), four
    /// fresh plans each, all made and first run concurrently, then one more made and run alone.
    /// Without the shim's lock around creating convolutions, oneDNN 2.6 on an AVX-512 VNNI CPU
    /// gave some of them wrong logits (nf_dnnl.c).
    @Test func plansMadeAndRunConcurrentlyGiveTheSerialResults() async throws {
        let chosen = Self.cases.filter { $0.name.hasPrefix("nf_") || $0.name.hasPrefix("dm_nfnet") || $0.name.hasPrefix("xbn_p3") }
        var runs: [(String, any ImageClassifier, Calibration, Tensor)] = []
        for c in chosen {
            let model = try CheckpointFolder.load(c.directory.path)
            let (input, _) = try ParityFixtures.io(c)
            runs.append((c.name, model.classifier, try Self.calibrate(try #require(model.classifier.executionPlan()), input), input))
        }
        let jobs = runs
        let concurrent = try await withThrowingTaskGroup(of: (String, Tensor).self) { group in
            for _ in 0..<4 {
                for (name, classifier, calibration, input) in jobs {
                    group.addTask {
                        let plan = try #require(classifier.executionPlan(precision: .int8(calibration)))
                        return (name, try plan.logits(input, observer: nil))
                    }
                }
            }
            return try await group.reduce(into: [String: [Tensor]]()) { $0[$1.0, default: []].append($1.1) }
        }
        for (name, classifier, calibration, input) in jobs {
            let alone = try #require(classifier.executionPlan(precision: .int8(calibration))).logits(input, observer: nil)
            for logits in concurrent[name] ?? [] {
                let difference = logits.maxAbsDifference(alone)
                #expect(difference <= 1e-5, "\(name): a plan made and run concurrently differs by \(difference)")
            }
        }
    }
}
