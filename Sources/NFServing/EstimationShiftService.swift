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
/// is asked before each batch and throws to stop (its client has gone), and a cancelled task
/// (the server stopping) stops there too.
public struct EstimationShiftService: Sendable {
    public let store: ModelStore
    public let pool: ComputePool
    public let datasets: String
    public let live: LiveMonitors
    public let maxPixels: Int
    /// Preprocessed images a recalibration holds in memory (it passes over them once per layer).
    public let maxRecalibrationBytes: Int
    /// Images a recalibration uses at most, whatever `?limit=` asks: its cost is a pass over them
    /// per BatchNorm layer (`nfserve recalibrate`, offline, has no such cap).
    public let maxRecalibrationImages: Int
    public static let defaultMaxRecalibrationImages = 5000
    /// Admits each dataset pass and recalibration by the memory it is estimated to take.
    public let memory: MemoryAdmission?
    /// Models one request may measure (each a pass over the dataset).
    public static let maxModels = 4

    public init(
        store: ModelStore, pool: ComputePool, datasets: String, live: LiveMonitors, maxPixels: Int,
        maxRecalibrationBytes: Int = 512 << 20, maxRecalibrationImages: Int = defaultMaxRecalibrationImages,
        memory: MemoryAdmission? = nil
    ) {
        self.store = store
        self.pool = pool
        self.datasets = datasets
        self.live = live
        self.maxPixels = maxPixels
        self.maxRecalibrationBytes = maxRecalibrationBytes
        self.maxRecalibrationImages = maxRecalibrationImages
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
                try await Self.check(stillWanted)
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
            let cap = min(maxRecalibrationImages, max(1, maxRecalibrationBytes / perImage))
            if let requested, requested < 1 { throw ServingError(.invalidArgument, "?limit= must be positive, got \(requested)") }
            let limit = min(requested ?? dataset.count, cap)
            guard dataset.count > 0 else { throw ServingError(.invalidArgument, "dataset \"\(dataset.name)\" has no images to recalibrate on") }
            let bytes = try model.recalibrationBytes(images: min(limit, dataset.count))
            try memory?.reserve(bytes, for: "recalibrating \(model.name) on \(min(limit, dataset.count)) images")
            defer { memory?.release(bytes) }
            var inputs: [Tensor] = []
            for batch in EstimationShift.batches(model, dataset: dataset, limit: limit, maxPixels: maxPixels) {
                try await Self.check(stillWanted)
                inputs.append(try batch.get())
            }
            let measuredBefore = try await inputMoments(model.classifier, inputs: inputs, stillWanted: stillWanted)
            var recalibration = LayerwiseRecalibration(model.classifier)
            while recalibration.layer != nil {
                for input in inputs {
                    try await Self.check(stillWanted)
                    try await pool.run { [recalibration] in try recalibration.measure(input) }
                }
                try recalibration.advance()
            }
            let network = recalibration.network
            let measuredAfter = try await inputMoments(network, inputs: inputs, stillWanted: stillWanted)
            recalibrated = network
            before = EstimationShift.layers(model.classifier, measured: measuredBefore)
            after = EstimationShift.layers(network, measured: measuredAfter)
            sourceName = "dataset:\(dataset.name)"
            images = inputs.reduce(0) { $0 + $1.shape[0] }
            if dataset.isLabelled {
                top1 = (
                    try await self.top1(model, dataset: dataset, images: images, stillWanted: stillWanted),
                    try await self.top1(model.replacing(classifier: network), dataset: dataset, images: images, stillWanted: stillWanted)
                )
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

    /// Throws when the request should stop: its client has gone (`stillWanted`) or its task was
    /// cancelled (the server is stopping).
    private static func check(_ stillWanted: @Sendable () async throws -> Void) async throws {
        try Task.checkCancellation()
        try await stillWanted()
    }

    /// Each normalization layer's input moments over `inputs`, one pool job per batch.
    private func inputMoments(
        _ classifier: any ImageClassifier, inputs: [Tensor], stillWanted: @Sendable () async throws -> Void
    ) async throws -> [String: ChannelMoments] {
        let recorder = NormalizationRecorder()
        for input in inputs {
            try await Self.check(stillWanted)
            try await pool.run { try EstimationShift.record(classifier, input, into: recorder) }
        }
        return recorder.moments
    }

    /// Top-1 of `model` on the first `images` of `dataset`, one pool job per batch.
    private func top1(
        _ model: ModelPipeline, dataset: any ImageDataset, images: Int, stillWanted: @Sendable () async throws -> Void
    ) async throws -> Double {
        var correct = Evaluation.Correct()
        for start in stride(from: 0, to: images, by: EstimationShift.defaultBatchSize) {
            try await Self.check(stillWanted)
            let batch = start..<min(start + EstimationShift.defaultBatchSize, images)
            correct += try await pool.run { [maxPixels] in
                try Evaluation.correct(model: model, dataset: dataset, images: batch, maxPixels: maxPixels)
            }
        }
        return images == 0 ? 0 : Double(correct.top1) / Double(images)
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
