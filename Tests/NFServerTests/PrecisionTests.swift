import Foundation
import Hummingbird
import HummingbirdTesting
import NFDiagnostics
import NFLayers
import NFModels
import NFPipeline
import NFTensors
import Testing

@testable import NFServer
@testable import NFServing

/// A model's precision: from its nfserve.json and the flags, int8 refused without a calibration
/// and served with one, observed passes kept FP32, and what `/models/{m}` and
/// `/diagnostics/precision` report. (The int8 arithmetic itself: QuantizedConvolutionTests,
/// Int8PlanTests; the diagnostic's numbers against PyTorch: PrecisionCostReferenceTests.)
@Suite struct PrecisionTests {
    /// A copy of the tiny test checkpoint, calibrated on seeded N(0, 1) noise, with `settings`.
    static func calibratedFolder(settings: String = "{}") throws -> String {
        let directory = try ModelSettingsTests.folder(settings: settings)
        let model = try ModelPipeline.load(directory: directory, name: "tiny", precision: .fp32)
        try calibration(model).write(folder: directory)
        return directory
    }

    static func noise(_ model: ModelPipeline, batch: Int, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        let shape = [batch] + model.inputSize
        return Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextNormal()) })
    }

    static func calibration(_ model: ModelPipeline, method: CalibrationMethod = .minmax) throws -> Calibration {
        try model.calibrate(method: method, dataset: "gaussian", images: 16, seed: 5) { each in
            try each(noise(model, batch: 8, seed: 5))
            try each(noise(model, batch: 8, seed: 6))
        }
    }

    @Test func calibrationIsDeterministicAndPercentileClipsOutliers() throws {
        let model = TestCheckpoints.tiny
        let minmax = try Self.calibration(model), again = try Self.calibration(model)
        #expect(minmax == again)
        // The stem's (the network's input), 16 in the blocks and 4 shortcut projections (its stem
        // has 64 channels, its stages 4).
        #expect(minmax.inputs.count == 21 && minmax.inputs["conv1"] != nil, "\(minmax.inputs.keys.sorted())")
        let percentile = try Self.calibration(model, method: .percentile)
        #expect(Set(percentile.inputs.keys) == Set(minmax.inputs.keys))
        for (name, range) in percentile.inputs {
            let full = minmax.inputs[name]!
            #expect(range.max <= full.max && range.min >= full.min, "\(name): \(range) within \(full)")
            #expect(range.max >= full.max / 4, "\(name): the 99.99th percentile is not far below the maximum")
        }
        // Entropy: deterministic, within minmax, and clipping somewhere (the thresholds
        // themselves: CalibrationEntropyTests).
        let entropy = try Self.calibration(model, method: .entropy)
        #expect(try Self.calibration(model, method: .entropy) == entropy && entropy.method == "entropy")
        #expect(Set(entropy.inputs.keys) == Set(minmax.inputs.keys))
        for (name, range) in entropy.inputs {
            let full = minmax.inputs[name]!
            #expect(range.max <= full.max && range.min >= full.min && range.max > 0, "\(name): \(range) within \(full)")
        }
        #expect(entropy.inputs.contains { $0.value.max < minmax.inputs[$0.key]!.max })
    }

    @Test func int8IsRefusedWithoutACalibrationAndBf16WhereOneDNNHasNone() throws {
        let directory = try ModelSettingsTests.folder(settings: #"{"precision": "int8"}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = #expect(throws: CalibrationError.self) { try ModelPipeline.load(directory: directory, name: "tiny") }
        #expect(error?.description.contains("int8 needs calibration data; run `nfserve calibrate") == true, "\(String(describing: error))")
        // The flag wins over the file: FP32 loads.
        #expect(try ModelPipeline.load(directory: directory, name: "tiny", precision: .fp32).precision == .fp32)
        // bf16 needs no calibration; it needs oneDNN's bf16 convolutions (AVX-512).
        if BFloat16Convolution.isAvailable {
            #expect(try ModelPipeline.load(directory: directory, name: "tiny", precision: .bf16).precision == .bf16)
        } else {
            let bf16 = #expect(throws: CalibrationError.self) { try ModelPipeline.load(directory: directory, name: "tiny", precision: .bf16) }
            #expect(bf16?.description.contains("bf16 is not available on this CPU") == true)
        }
        // A broken, truncated, hostile or oversized calibration.json fails the load saying why.
        for (file, message) in [
            ("", "calibration.json cannot be read"),
            (#"{"format": 1, "method": "minmax", "dataset": "d", "images": 1, "inputs": {"conv1": {"min": 0"#, "calibration.json cannot be read"),
            (#"{"format": 2, "method": "minmax", "dataset": "d", "images": 1, "inputs": {}}"#, "unknown format 2"),
            (
                #"{"format": 1, "method": "minmax", "dataset": "d", "images": 1, "inputs": {"layer1.0.conv1": {"min": 2, "max": 1}}}"#,
                "not a finite interval"
            ),
            (String(repeating: " ", count: Calibration.maxFileBytes + 1), "bytes; at most"),
        ] {
            try Data(file.utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent(Calibration.fileName))
            let failed = #expect(throws: CalibrationError.self) { try ModelPipeline.load(directory: directory, name: "tiny") }
            #expect(failed?.description.contains(message) == true, "\(String(describing: failed))")
        }
        let bad = try ModelSettingsTests.folder(settings: #"{"precision": "int4"}"#)
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let message = #expect(throws: ModelSettingsError.self) { try ModelPipeline.load(directory: bad, name: "tiny") }
        #expect(message?.description == "nfserve.json: \"precision\" must be one of fp32, bf16, int8")
    }

    @Test func int8ServesUnobservedPassesAndObservedOnesStayFP32() async throws {
        let directory = try Self.calibratedFolder(settings: #"{"precision": "int8"}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try ModelPipeline.load(directory: directory, name: "tiny")
        #expect(model.precision == .int8)
        // The flags override the file, one model or all.
        #expect(try await ModelLoader(precisions: ModelPrecisions(all: .fp32)).load(directory, name: "tiny").precision == .fp32)
        #expect(
            try await ModelLoader(precisions: ModelPrecisions(all: .fp32, perModel: ["tiny": .int8])).load(directory, name: "tiny")
                .precision == .int8)
        let input = Self.noise(model, batch: 4, seed: 9)
        let fp32 = try #require(model.plan).logits(input, observer: nil)
        let int8 = try #require(model.lowPrecision).plan.logits(input, observer: nil)
        #expect(try model.logits(input: input) == int8)
        #expect(int8 != fp32, "the int8 plan runs its own arithmetic")
        // An observed pass (the estimation shift's recorder) runs the FP32 plan.
        let observed = try model.logits(input: input, context: ForwardContext(observer: NormalizationRecorder()))
        #expect(observed.maxAbsDifference(fp32) <= 1e-4 * max(1, fp32.maxAbs))
        // A recalibrated version keeps its precision.
        #expect(model.replacing(classifier: model.classifier).precision == .int8)
    }

    @Test func modelsAndTheDiagnosticReportIt() async throws {
        let directory = try Self.calibratedFolder(settings: #"{"precision": "int8"}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let int8 = try ModelPipeline.load(directory: directory, name: "tiny8")
        let store = ModelStore(
            entries: [
                .init(name: "tiny", directory: TestCheckpoints.root + "/tiny", status: .ready(TestCheckpoints.tiny)),
                .init(name: "tiny8", directory: directory, status: .ready(int8)),
            ], finished: true)
        try await TestServer.app(store: store).test(.router) { client in
            let tiny8 = try await client.execute(uri: "/models/tiny8", method: .get).json
            let serving = try #require(tiny8["serving"] as? [String: Any])
            #expect(serving["precision"] as? String == "int8")
            let details = try #require(serving["int8"] as? [String: Any])
            #expect((details["calibration"] as? [String: Any])?["dataset"] as? String == "gaussian")
            let kept = try #require(details["kept_in_fp32"] as? [[String: Any]])
            #expect(kept.isEmpty, "every convolution runs in int8, the first too")
            let tiny = try #require(try await client.execute(uri: "/models/tiny", method: .get).json["serving"] as? [String: Any])
            #expect(tiny["precision"] as? String == "fp32" && tiny["int8"] == nil)

            let answer = try await client.execute(uri: "/predictions/tiny8", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(answer.status == .ok)

            let report = try await client.execute(uri: "/diagnostics/precision?model=tiny8&batch=4&seed=3", method: .get)
            #expect(report.status == .ok)
            let json = try report.json
            #expect(json["precision"] as? String == "int8")
            let sites = try #require(json["sites"] as? [[String: Any]])
            #expect(sites.count == 9, "the stem and 8 blocks")
            #expect(sites.first?["name"] as? String == "stem")
            for site in sites {
                let error = try #require(site["relative_error"] as? Double)
                #expect(error > 0 && error < 0.5, "\(site)")
            }
            let logits = try #require(json["logits"] as? [String: Any])
            let agreement = try #require(logits["top1_agreement"] as? Double)
            #expect((0...1).contains(agreement))
            let svg = try await client.execute(uri: "/diagnostics/precision?model=tiny8&format=svg", method: .get)
            #expect(svg.headers[.contentType]?.hasPrefix("image/svg+xml") == true)
            #expect(String(buffer: svg.body).contains("SQNR"))

            for (uri, status, message) in [
                ("/diagnostics/precision?model=tiny8&precision=fp32", HTTPResponse.Status.badRequest, "?precision= must be int8 or bf16"),
                ("/diagnostics/precision?model=tiny", .badRequest, "int8 needs calibration data"),
                ("/diagnostics/precision?model=nope", .notFound, "nope"),
                ("/diagnostics/precision", .badRequest, "?model="),
                ("/diagnostics/precision?model=tiny8&batch=1000", .badRequest, "batch"),
            ] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == status, "\(uri)")
                let text = try response.errorMessage
                #expect(text.contains(message), "\(uri): \(text)")
            }
        }
    }

    /// bf16 where oneDNN has bf16 convolutions: served without a calibration, observed passes
    /// FP32, reported by `/models/{m}`, and measured by the diagnostic (far closer to FP32 than
    /// int8); elsewhere refused by the diagnostic with the reason.
    @Test func bf16IsServedAndMeasuredWhereTheCPUHasIt() async throws {
        // A folder calibrated for int8 too: bf16 does not use (or report) its calibration.
        let directory = try Self.calibratedFolder(settings: #"{"precision": "bf16"}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard BFloat16Convolution.isAvailable else {
            let store = ModelStore(
                entries: [.init(name: "tiny", directory: TestCheckpoints.root + "/tiny", status: .ready(TestCheckpoints.tiny))],
                finished: true)
            try await TestServer.app(store: store).test(.router) { client in
                let response = try await client.execute(uri: "/diagnostics/precision?model=tiny&precision=bf16", method: .get)
                #expect(response.status == .badRequest)
                #expect(try response.errorMessage.contains("bf16 is not available on this CPU"))
            }
            return
        }
        let model = try ModelPipeline.load(directory: directory, name: "tiny16")
        #expect(model.precision == .bf16 && model.lowPrecision?.calibration == nil)
        let input = Self.noise(model, batch: 4, seed: 9)
        let fp32 = try #require(model.plan).logits(input, observer: nil)
        let bf16 = try model.logits(input: input)
        #expect(bf16 != fp32, "the bf16 plan runs its own arithmetic")
        let snr = Comparison(fp32.storage, bf16.storage).sqnrDb ?? .infinity
        #expect(snr > 30, "\(snr) dB")
        let observed = try model.logits(input: input, context: ForwardContext(observer: NormalizationRecorder()))
        #expect(observed.maxAbsDifference(fp32) <= 1e-4 * max(1, fp32.maxAbs))

        let store = ModelStore(entries: [.init(name: "tiny16", directory: directory, status: .ready(model))], finished: true)
        try await TestServer.app(store: store).test(.router) { client in
            let serving = try #require(try await client.execute(uri: "/models/tiny16", method: .get).json["serving"] as? [String: Any])
            #expect(serving["precision"] as? String == "bf16" && serving["int8"] == nil)
            let kept = try #require((serving["bf16"] as? [String: Any])?["kept_in_fp32"] as? [[String: Any]])
            #expect(kept.map { $0["layer"] as? String } == ["conv1"])
            let report = try await client.execute(uri: "/diagnostics/precision?model=tiny16&precision=bf16&batch=4&seed=3", method: .get)
            #expect(report.status == .ok)
            let json = try report.json
            #expect(json["precision"] as? String == "bf16" && json["calibration"] == nil)
            let sites = try #require(json["sites"] as? [[String: Any]])
            #expect(sites.count == 9, "the stem and 8 blocks")
            for site in sites.dropFirst() {
                let error = try #require(site["relative_error"] as? Double)
                #expect(error > 0 && error < 0.03, "\(site)")
            }
        }
    }
}
