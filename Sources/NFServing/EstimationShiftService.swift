import NFDatasets
import NFDiagnostics
import NFLayers
import NFModels
import NFPipeline
import NFTensors

/// What an estimation shift is measured on: the live traffic a model classified (all of it since
/// its statistics last changed, or its most recent `window` images), or a dataset of the server.
public enum EstimationShiftSource: Sendable, Equatable {
    case live(window: Int?)
    case dataset(name: String, limit: Int?)
}

/// What a recalibration did: per layer the estimation shift on its data before and after, and
/// for a labelled dataset top-1 before and after.
public struct RecalibrationOutcome: Sendable {
    public let model: String
    public let statistics: String
    public let images: Int
    public let top1: (before: Double, after: Double)?
    public let before: [EstimationShiftLayer]
    public let after: [EstimationShiftLayer]
}

/// BatchNorm's estimation shift of served models, on a dataset or on the live traffic, and
/// AdaBN's recalibration as a reversible action.
///
/// Dataset passes run batch by batch on the diagnostics pool (each batch one job, so other
/// diagnostics interleave), each admitted by the memory it is estimated to take; `stillWanted`
/// is asked before each batch and throws to stop (its client has gone).
public struct EstimationShiftService: Sendable {
    public let store: ModelStore
    public let pool: ComputePool
    public let datasets: String
    public let live: LiveMonitors
    public let maxPixels: Int
    /// Preprocessed images a recalibration holds in memory (it passes over them once per layer).
    public let maxRecalibrationBytes: Int
    /// Admits each dataset pass and recalibration by the memory it is estimated to take.
    public let memory: MemoryAdmission?
    /// Models one request may measure (each a pass over the dataset).
    public static let maxModels = 4

    public init(
        store: ModelStore, pool: ComputePool, datasets: String, live: LiveMonitors, maxPixels: Int,
        maxRecalibrationBytes: Int = 512 << 20, memory: MemoryAdmission? = nil
    ) {
        self.store = store
        self.pool = pool
        self.datasets = datasets
        self.live = live
        self.maxPixels = maxPixels
        self.maxRecalibrationBytes = maxRecalibrationBytes
        self.memory = memory
    }

    /// The estimation shift of every BatchNorm of `model` on `source`.
    public func report(
        _ model: ModelPipeline, source: EstimationShiftSource,
        stillWanted: @Sendable () async throws -> Void
    ) async throws -> EstimationShiftReport {
        let statistics = store.entry(named: model.name)?.statistics ?? "checkpoint"
        switch source {
        case let .live(window):
            let monitor = try liveMonitor(model)
            if let window {
                guard (1...monitor.maxWindow).contains(window) else {
                    throw ServingError(.invalidArgument, "?window= must be 1 to \(monitor.maxWindow) images, got \(window)")
                }
                let recent = monitor.recent(window: window)
                return EstimationShiftReport(
                    model: model.name, source: "live", scope: "recent", window: window, images: recent.images,
                    statistics: statistics, layers: EstimationShift.layers(model.classifier, measured: recent.moments))
            }
            let all = monitor.all
            return EstimationShiftReport(
                model: model.name, source: "live", scope: "all", images: all.images, statistics: statistics,
                layers: EstimationShift.layers(model.classifier, measured: all.moments))
        case let .dataset(name, limit):
            if let limit, limit < 1 { throw ServingError(.invalidArgument, "?limit= must be positive, got \(limit)") }
            let dataset = try DatasetCatalog(root: datasets).open(name: name)
            let bytes = try model.estimationShiftPassBytes()
            try memory?.reserve(bytes, for: "an estimation-shift pass of \(model.name)")
            defer { memory?.release(bytes) }
            let recorder = NormalizationRecorder()
            var images = 0
            for batch in EstimationShift.batches(model, dataset: dataset, limit: limit, maxPixels: maxPixels) {
                try await stillWanted()
                let input = try batch.get()
                _ = try await pool.run { try model.logits(input: input, context: ForwardContext(observer: recorder)) }
                images += input.shape[0]
            }
            return EstimationShiftReport(
                model: model.name, source: "dataset", dataset: dataset.name, images: images, statistics: statistics,
                layers: EstimationShift.layers(model.classifier, measured: recorder.moments))
        }
    }

    /// Replaces the BatchNorm statistics of the served model `name` by those of `source`, layer
    /// by layer (AdaBN), and swaps the new version in; `restore` brings the checkpoint's back.
    public func recalibrate(
        _ name: String, source: EstimationShiftSource,
        stillWanted: @Sendable () async throws -> Void
    ) async throws -> RecalibrationOutcome {
        let model = try store.servedModel(named: name)
        guard !model.classifier.batchNormLayers.isEmpty else {
            throw ServingError(.invalidArgument, "\(name) has no BatchNorm layer to recalibrate (\(model.classifier.normalizationKind.rawValue))")
        }
        let before: [EstimationShiftLayer], after: [EstimationShiftLayer], recalibrated: any ImageClassifier
        let sourceName: String, images: Int
        var top1: (before: Double, after: Double)?
        switch source {
        case .live:
            let measured = try liveMonitor(model).all
            guard measured.images > 0 else {
                throw ServingError(
                    .invalidArgument, "\(name) has classified no image since its statistics last changed: nothing live to recalibrate on")
            }
            (recalibrated, _) = EstimationShift.recalibrated(model.classifier, measured: measured.moments)
            before = EstimationShift.layers(model.classifier, measured: measured.moments)
            after = EstimationShift.layers(recalibrated, measured: measured.moments)
            sourceName = "live traffic"
            images = measured.images
        case let .dataset(datasetName, requested):
            let dataset = try DatasetCatalog(root: datasets).open(name: datasetName)
            let perImage = model.inputSize.reduce(4, *)
            let cap = max(1, maxRecalibrationBytes / perImage)
            if let requested, requested < 1 { throw ServingError(.invalidArgument, "?limit= must be positive, got \(requested)") }
            let limit = min(requested ?? dataset.count, cap)
            guard dataset.count > 0 else { throw ServingError(.invalidArgument, "dataset \"\(dataset.name)\" has no images to recalibrate on") }
            let bytes = try model.recalibrationBytes(images: min(limit, dataset.count))
            try memory?.reserve(bytes, for: "recalibrating \(model.name) on \(min(limit, dataset.count)) images")
            defer { memory?.release(bytes) }
            var inputs: [Tensor] = []
            for batch in EstimationShift.batches(model, dataset: dataset, limit: limit, maxPixels: maxPixels) {
                try await stillWanted()
                inputs.append(try batch.get())
            }
            let measuredBefore = try await pool.run { [inputs] in try EstimationShift.inputMoments(model.classifier, inputs: inputs) }
            let network = try await pool.run { [inputs] in try EstimationShift.recalibrated(model.classifier, inputs: inputs).0 }
            let measuredAfter = try await pool.run { [inputs] in try EstimationShift.inputMoments(network, inputs: inputs) }
            recalibrated = network
            before = EstimationShift.layers(model.classifier, measured: measuredBefore)
            after = EstimationShift.layers(network, measured: measuredAfter)
            sourceName = "dataset:\(dataset.name)"
            images = inputs.reduce(0) { $0 + $1.shape[0] }
            if dataset.isLabelled {
                let candidate = model.replacing(classifier: network)
                let counted = images
                top1 = try await pool.run {
                    (
                        try Evaluation.run(model: model, dataset: dataset, limit: counted).top1,
                        try Evaluation.run(model: candidate, dataset: dataset, limit: counted).top1
                    )
                }
            }
        }
        let candidate = model.replacing(classifier: recalibrated)
        guard store.swapStatistics(name, from: model, to: candidate, source: sourceName, images: images) else {
            throw ServingError(
                .conflict, "\(name) changed while it was being recalibrated (reloaded, unloaded or recalibrated meanwhile); nothing was swapped")
        }
        return RecalibrationOutcome(
            model: name, statistics: store.entry(named: name)?.statistics ?? sourceName, images: images,
            top1: top1, before: before, after: after)
    }

    /// Brings the checkpoint's statistics of `name` back: whether they were replaced, and what
    /// the statistics in use are now.
    public func restore(_ name: String) throws -> (restored: Bool, statistics: String) {
        _ = try store.servedModel(named: name)
        let restored = store.restoreStatistics(name)
        return (restored, store.entry(named: name)?.statistics ?? "checkpoint")
    }

    /// Empties the live sums of the served model `name`.
    public func resetLive(_ name: String) throws {
        live.monitor(for: try store.servedModel(named: name)).reset()
    }

    private func liveMonitor(_ model: ModelPipeline) throws -> LiveEstimationShift {
        guard live.enabled else { throw ServingError(.invalidArgument, "live estimation shift is off (the server runs with --no-live-esm)") }
        return live.monitor(for: model)
    }
}
