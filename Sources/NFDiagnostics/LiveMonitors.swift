import NFLayers
import NFModels
import NFPipeline
import Synchronization

/// The live estimation shift of every served model: what the images it classified did to each
/// BatchNorm's input. One `LiveEstimationShift` per version of a model, so a reload, a
/// recalibration or a restore starts afresh (the statistics it compares with have changed).
///
/// Observing a pass costs its BatchNorm left unfolded and every input reduced (a quarter more
/// time for resnet50), and the moments merged after the answer. With a `budget` (the share of
/// time observed passes and their merges may take; `--live-esm-budget`, 0.1 by default) the
/// monitors sample: a pass is observed only when no merge is pending and the last observed pass,
/// from its start to the end of its merge, times 1/budget, has passed since it began; every
/// other pass runs fully fused. Without one every pass is observed and the merges may queue up.
public final class LiveMonitors: Sendable {
    public let enabled: Bool
    public let budget: Double?
    private let monitors = Mutex<[String: (version: PipelineVersion, live: LiveEstimationShift)]>([:])
    private struct Sampling {
        var pending = 0
        var nextAllowed = ContinuousClock.now
        /// When the observed pass now pending began (with a budget, one at a time).
        var observedSince = ContinuousClock.now
    }
    private let sampling = Mutex(Sampling())

    public init(enabled: Bool, budget: Double? = nil) {
        precondition(budget.map { $0 > 0 && $0 <= 1 } ?? true, "the live ESM budget is a share of the time in (0, 1]")
        self.enabled = enabled
        self.budget = budget
    }

    /// The observer a forward pass of `model` should carry, nil when nothing is recorded (live
    /// ESM off, a model without BatchNorm, or, with a budget, not this pass). A recorder handed
    /// out must be given back: `record` or `discard`.
    public func recorder(for model: ModelPipeline) -> NormalizationRecorder? {
        // The kind, not the layer list: this runs for every request.
        let kind = model.classifier.normalizationKind
        guard enabled, kind == .batchnorm || kind == .mixed else { return nil }
        let observe = sampling.withLock { state in
            let now = ContinuousClock.now
            if budget != nil && (state.pending > 0 || now < state.nextAllowed) { return false }
            state.pending += 1
            state.observedSince = now
            return true
        }
        return observe ? NormalizationRecorder(deferringUpTo: LiveEstimationShift.deferredBytes) : nil
    }

    /// Merges a pass's moments into `model`'s live sums, off the response path.
    public func record(_ recorder: NormalizationRecorder, model: ModelPipeline, images: Int) {
        let live = monitor(for: model)
        Task.detached(priority: .utility) { [self] in
            live.record(recorder.moments, images: images)
            finished()
        }
    }

    /// A recorder whose pass is not recorded (it failed, or its logits were not finite).
    public func discard(_ recorder: NormalizationRecorder) { finished() }

    private func finished() {
        sampling.withLock { state in
            state.pending -= 1
            if let budget {
                let start = state.observedSince
                state.nextAllowed = start + (ContinuousClock.now - start) * (1 / budget)
            }
        }
    }

    /// The live sums of this version of `model` (new and empty for a version not seen yet).
    public func monitor(for model: ModelPipeline) -> LiveEstimationShift {
        monitors.withLock { monitors in
            if let existing = monitors[model.name], existing.version === model.version { return existing.live }
            let live = LiveEstimationShift(batchNorms: model.classifier.batchNormLayers)
            monitors[model.name] = (model.version, live)
            return live
        }
    }

    /// Every model's current live sums, by name.
    public var all: [(name: String, version: PipelineVersion, live: LiveEstimationShift)] {
        monitors.withLock { $0.map { ($0.key, $0.value.version, $0.value.live) }.sorted { $0.name < $1.name } }
    }
}
