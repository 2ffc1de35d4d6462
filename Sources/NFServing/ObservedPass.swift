import NFDiagnostics
import NFLayers
import NFPipeline
import NFTensors

/// One forward pass of a served model, timed into the metrics and observed by the live
/// estimation shift when its monitors sample it. `finish()`, called once the logits are
/// answered, merges the pass's BatchNorm input moments into the model's live sums, unless a
/// logit is not finite (such an input must not skew them); a pass that throws gives its
/// recorder back at once.
struct ObservedPass {
    let logits: Tensor
    let duration: Duration
    private let recorder: NormalizationRecorder?
    private let live: LiveMonitors
    private let model: ModelPipeline
    private let images: Int

    /// Runs on `pool`'s thread, letting other models' passes run between its steps; its
    /// `duration` is its own time, without theirs.
    init(model: ModelPipeline, input: Tensor, live: LiveMonitors, metrics: any InferenceMetrics, pool: ComputePool) throws {
        let recorder = live.recorder(for: model)
        let start = ContinuousClock.now
        let interleavedBefore = pool.interleavedTime
        do {
            logits = try model.logits(input: input, context: ForwardContext(observer: recorder, stepBoundary: pool.stepBoundary))
        } catch {
            if let recorder { live.discard(recorder) }
            throw error
        }
        duration = ContinuousClock.now - start - (pool.interleavedTime - interleavedBefore)
        images = input.shape[0]
        metrics.recordInference(model: model.name, images: images, duration: duration)
        (self.recorder, self.live, self.model) = (recorder, live, model)
    }

    func finish() {
        guard let recorder else { return }
        if logits.storage.allSatisfy(\.isFinite) { live.record(recorder, model: model, images: images) } else { live.discard(recorder) }
    }
}
