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

    init(model: ModelPipeline, input: Tensor, live: LiveMonitors, metrics: any InferenceMetrics) throws {
        let recorder = live.recorder(for: model)
        let start = ContinuousClock.now
        do {
            logits = try model.logits(input: input, context: ForwardContext(observer: recorder))
        } catch {
            if let recorder { live.discard(recorder) }
            throw error
        }
        duration = ContinuousClock.now - start
        images = input.shape[0]
        metrics.recordInference(model: model.name, images: images, duration: duration)
        (self.recorder, self.live, self.model) = (recorder, live, model)
    }

    func finish() {
        guard let recorder else { return }
        if logits.storage.allSatisfy(\.isFinite) { live.record(recorder, model: model, images: images) } else { live.discard(recorder) }
    }
}
