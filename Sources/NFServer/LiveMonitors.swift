import NFDiagnostics
import NFLayers
import NFPipeline
import NFModels
import Synchronization

/// The live estimation shift of every served model: what the images it classified did to each
/// BatchNorm's input. One `LiveEstimationShift` per version of a model, so a reload, a
/// recalibration or a restore starts afresh (the statistics it compares with have changed).
final class LiveMonitors: Sendable {
    let enabled: Bool
    private let monitors = Mutex<[String: (version: PipelineVersion, live: LiveEstimationShift)]>([:])

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// The observer a forward pass of `model` should carry, nil when nothing is recorded (live
    /// ESM off, or a model without BatchNorm).
    func recorder(for model: ModelPipeline) -> NormalizationRecorder? {
        // The kind, not the layer list: this runs for every request.
        let kind = model.classifier.normalizationKind
        return enabled && (kind == .batchnorm || kind == .mixed) ? NormalizationRecorder(deferringUpTo: LiveEstimationShift.deferredBytes) : nil
    }

    /// Merges a request's moments into `model`'s live sums, off the response path.
    func record(_ recorder: NormalizationRecorder, model: ModelPipeline, images: Int) {
        let live = monitor(for: model)
        Task.detached(priority: .utility) { live.record(recorder.moments, images: images) }
    }

    /// The live sums of this version of `model` (new and empty for a version not seen yet).
    func monitor(for model: ModelPipeline) -> LiveEstimationShift {
        monitors.withLock { monitors in
            if let existing = monitors[model.name], existing.version === model.version { return existing.live }
            let live = LiveEstimationShift()
            monitors[model.name] = (model.version, live)
            return live
        }
    }

    /// Every model's current live sums, by name.
    var all: [(name: String, version: PipelineVersion, live: LiveEstimationShift)] {
        monitors.withLock { $0.map { ($0.key, $0.value.version, $0.value.live) }.sorted { $0.name < $1.name } }
    }
}
