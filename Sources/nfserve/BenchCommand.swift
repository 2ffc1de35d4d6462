import ArgumentParser
import Foundation
import NFCheckpoint
import NFDiagnostics
import NFImage
import NFLayers
import NFModels
import NFPipeline
import NFTensors

/// `nfserve bench`: times the forward pass on random input and prints one line of JSON.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the forward pass on random input; prints JSON (median/min ms, images/s, GFLOP/s).")

    @Option(help: "A checkpoint folder, a model name inside --checkpoints, or a registered architecture (random weights).")
    var model: String
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "JSON model_args for an architecture name, e.g. '{\"num_classes\": 10}'.") var modelArgs: String?
    @Option(help: "Images per forward pass.") var batch = 1
    @Option(help: "Timed forward passes.") var iterations = 20
    @Option(help: "Untimed forward passes first.") var warmup = 2
    @Option(help: "Input height and width (default: the model's pretrained_cfg size, else 224).") var size: Int?
    @Flag(
        help:
            "Time each forward pass with the live estimation shift's recorder attached, as a served prediction has it (the merge, after the answer, timed apart)."
    )
    var liveEsm = false
    @Flag(help: "Time the layers instead of the execution plan (the unfused path diagnostics that observe block outputs take).")
    var layers = false
    @Option(
        help:
            "Also time decoding and preprocessing this image file into the model's input, as a served request does (a checkpoint folder only; one image at a time, one core)."
    )
    var image: String?
    @Option(
        help:
            "OpenMP threads (default: one for work under \(ModelPipeline.singleThreadFlops / 1_000_000) MFLOP, else every core, as the server chooses)."
    )
    var threads: Int?
    @Option(help: "The plan's arithmetic: fp32, or int8 (a checkpoint folder calibrated by `nfserve calibrate`).")
    var precision = "fp32"

    func run() async throws {
        guard batch > 0, iterations > 0, warmup >= 0 else { throw ValidationError("batch and iterations must be positive") }
        let (name, classifier) = try ModelResolution.resolve(
            model, checkpoints: checkpoints, allowArchitecture: true,
            modelArgs: modelArgs)
        let side = size ?? defaultSize()
        var rng = SplitMix64(seed: 42)
        let count = batch * classifier.inputChannels * side * side
        let input = Tensor(
            shape: [batch, classifier.inputChannels, side, side],
            storage: (0..<count).map { _ in Float(rng.nextNormal()) })
        let flops = try classifier.flops(height: side, width: side) * batch
        let live = LiveEstimationShift()
        var mergeTimes: [Double] = []
        guard let chosen = Precision(rawValue: precision) else {
            throw ValidationError("--precision must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var plan = layers ? nil : classifier.executionPlan()
        if chosen != .fp32 {
            guard !layers, let dir = try ModelResolution.folder(model, checkpoints: checkpoints) else {
                throw ValidationError("--precision \(precision) needs the execution plan of a checkpoint folder (its calibration)")
            }
            plan = try LowPrecisionPlan(chosen, calibration: Calibration.read(folder: dir), classifier: classifier, model: name).plan
        }
        let threadCount = threads ?? ModelPipeline.computeThreads(flops: flops)
        setComputeThreads(threadCount)
        func run(_ observer: (any ForwardObserver)?) throws {
            if let plan {
                _ = try plan.logits(input, observer: observer)
            } else {
                _ = try classifier.forward(input, context: ForwardContext(observer: observer))
            }
        }
        func forward() throws {
            guard liveEsm else {
                try run(nil)
                return
            }
            let recorder = NormalizationRecorder(deferringUpTo: LiveEstimationShift.deferredBytes)
            try run(recorder)
            let start = ContinuousClock.now
            live.record(recorder.moments, images: batch)
            mergeTimes.append(seconds(ContinuousClock.now - start))
        }
        for _ in 0..<warmup { try forward() }
        mergeTimes = []
        var times: [Double] = []
        for _ in 0..<iterations {
            let start = ContinuousClock.now
            try forward()
            times.append(seconds(ContinuousClock.now - start) - (mergeTimes.last ?? 0))
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        var result: [String: Any] = [
            "runtime": "nfserve", "model": name, "architecture": classifier.architecture,
            "batch": batch, "size": side, "iterations": iterations, "live_esm": liveEsm,
            "median_ms": round3(median * 1000), "min_ms": round3(times[0] * 1000),
            "images_per_s": round3(Double(batch) / median),
            "gflop": round3(Double(flops) / 1e9), "gflops": round3(Double(flops) / median / 1e9),
            "threads": threadCount == 0 ? availableComputeThreads : threadCount,
            "path": plan == nil ? "layers" : "plan", "precision": chosen.rawValue,
            "onednn": oneDNNVersion,
        ]
        if let image {
            guard let dir = try ModelResolution.folder(model, checkpoints: checkpoints) else {
                throw ValidationError("--image needs a checkpoint folder (its preprocessing)")
            }
            let pipeline = try ModelPipeline.load(directory: dir)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: image)))
            var decodeTimes: [Double] = [], preprocessTimes: [Double] = []
            for i in 0..<(warmup + iterations) {
                let start = ContinuousClock.now
                let decoded = try ImageDecoder.decode(bytes, maxPixels: 40_000_000)  // serve's default --max-pixels
                let decodedAt = ContinuousClock.now
                _ = pipeline.input(images: [decoded])
                if i >= warmup {
                    decodeTimes.append(seconds(decodedAt - start))
                    preprocessTimes.append(seconds(ContinuousClock.now - decodedAt))
                }
            }
            decodeTimes.sort()
            preprocessTimes.sort()
            result["decode_median_ms"] = round3(decodeTimes[decodeTimes.count / 2] * 1000)
            result["preprocess_median_ms"] = round3(preprocessTimes[preprocessTimes.count / 2] * 1000)
        }
        if liveEsm {
            mergeTimes.sort()
            result["live_esm_merge_median_ms"] = round3(mergeTimes[mergeTimes.count / 2] * 1000)
        }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func defaultSize() -> Int {
        if let dir = try? ModelResolution.folder(model, checkpoints: checkpoints) ?? nil,
            let config = try? NFCheckpoint.ModelConfig.load(path: dir + "/config.json"),
            config.pretrainedCfg.inputSize.count == 3
        {
            return config.pretrainedCfg.inputSize[2]
        }
        return 224
    }

    private func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
    private func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}
