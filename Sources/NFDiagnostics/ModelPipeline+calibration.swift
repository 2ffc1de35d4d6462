import NFLayers
import NFModels
import NFPipeline
import NFTensors

extension ModelPipeline {
    /// Calibrates an int8 plan: runs the FP32 plan over the inputs `batches` gives (once, or
    /// twice for `percentile` and `entropy`) and records the range of every convolution's input. Deterministic:
    /// the same inputs give the same ranges. `batches` calls its argument with each `[N, C, H, W]`
    /// preprocessed batch, in order, each time it is called.
    public func calibrate(
        method: CalibrationMethod, dataset: String, images: Int, seed: UInt64? = nil,
        batches: (_ each: (Tensor) throws -> Void) throws -> Void
    ) throws -> Calibration {
        guard let plan else {
            throw CalibrationError("\(name): \(classifier.architecture) has no execution plan to calibrate")
        }
        func pass(_ recorder: CalibrationRecorder) throws {
            try batches { input in _ = try plan.logits(input, observer: recorder) }
        }
        let first = CalibrationRecorder()
        try pass(first)
        var recorder = first
        if method != .minmax {
            recorder = CalibrationRecorder(after: first)
            try pass(recorder)
        }
        let ranges = recorder.ranges(method)
        guard !ranges.isEmpty else { throw CalibrationError("\(name): no convolution input was seen") }
        return Calibration(method: method.rawValue, dataset: dataset, images: images, seed: seed, inputs: ranges)
    }
}
