import NFDatasets
import NFImage
import NFLayers
import NFModels
import NFPipeline
import NFTensors

/// BatchNorm's estimation shift magnitude (Huang et al., CVPR 2022; docs/estimation-shift.md) and its
/// remedy, AdaBN's recalibration. Every function here is blocking.
public enum EstimationShift {
    /// Each normalization layer of `classifier` in forward order with its ESM against the input
    /// moments `measured` (by layer name): `|| running_mean - mu ||_2` and
    /// `|| running_var - sigma2 ||_2` over channels, in Double.
    public static func layers(_ classifier: any ImageClassifier, measured: [String: ChannelMoments]) -> [EstimationShiftLayer] {
        classifier.normalizationLayers.enumerated().map { index, layer in
            var entry = EstimationShiftLayer(
                index: index, name: layer.name, kind: layer.batchNorm == nil ? "groupnorm" : "batchnorm",
                channels: layer.channels, esmMean: nil, esmVar: nil)
            if let bn = layer.batchNorm, let moments = measured[bn.name], moments.count > 0 {
                let variance = moments.variance
                var meanSquares = 0.0, varSquares = 0.0
                for c in 0..<bn.channels {
                    let dm = Double(bn.runningMean[c]) - moments.mean[c], dv = Double(bn.runningVar[c]) - variance[c]
                    meanSquares += dm * dm
                    varSquares += dv * dv
                }
                entry.esmMean = meanSquares.squareRoot()
                entry.esmVar = varSquares.squareRoot()
            }
            return entry
        }
    }

    /// The first `limit` images of `dataset` (all when nil), in batches, preprocessed as for
    /// prediction: `[N, C, H, W]` tensors with the images they hold.
    /// Images per batch of a pass over a dataset.
    public static let defaultBatchSize = 64

    public static func batches(
        _ pipeline: ModelPipeline, dataset: any ImageDataset, limit: Int?, batchSize: Int = defaultBatchSize,
        maxPixels: Int = 40_000_000
    ) -> DatasetBatches {
        DatasetBatches(
            pipeline: pipeline, dataset: dataset, total: min(limit ?? dataset.count, dataset.count),
            batchSize: batchSize, maxPixels: maxPixels)
    }

    /// Runs `pipeline` in inference mode over every batch and accumulates each normalization
    /// layer's input. `afterBatch` is told (images done, total) and may throw to stop (a
    /// cancelled request).
    public static func measure(
        _ pipeline: ModelPipeline, batches: DatasetBatches,
        afterBatch: (Int, Int) throws -> Void = { _, _ in }
    ) throws -> (recorder: NormalizationRecorder, images: Int) {
        let recorder = NormalizationRecorder()
        var done = 0
        for batch in batches {
            let input = try batch.get()
            _ = try pipeline.logits(input: input, context: ForwardContext(observer: recorder))
            done += input.shape[0]
            try afterBatch(done, batches.total)
        }
        return (recorder, done)
    }

    /// Each normalization layer's input moments over `inputs` (preprocessed batches).
    public static func inputMoments(_ classifier: any ImageClassifier, inputs: [Tensor]) throws -> [String: ChannelMoments] {
        let recorder = NormalizationRecorder()
        for input in inputs { try record(classifier, input, into: recorder) }
        return recorder.moments
    }

    /// Adds each normalization layer's input on `input` (one preprocessed batch) to `recorder`.
    public static func record(_ classifier: any ImageClassifier, _ input: Tensor, into recorder: NormalizationRecorder) throws {
        _ = try classifier.forward(input, context: ForwardContext(observer: recorder))
    }

    /// AdaBN, layer by layer: each BatchNorm's running statistics become the mean and biased
    /// variance its input has over `inputs` when every earlier layer already uses its new
    /// statistics, so that afterwards the ESM on the same inputs is 0 up to rounding. Each
    /// layer costs one pass over the inputs up to that layer (`ForwardContext.stopAtNormalization`).
    public static func recalibrated(
        _ classifier: any ImageClassifier, inputs: [Tensor],
        afterLayer: (Int, Int) throws -> Void = { _, _ in }
    ) throws -> (any ImageClassifier, [String: RunningStatistics]) {
        var recalibration = LayerwiseRecalibration(classifier)
        while recalibration.layer != nil {
            for input in inputs { try recalibration.measure(input) }
            try recalibration.advance()
            try afterLayer(recalibration.layersDone, recalibration.layerCount)
        }
        return (recalibration.network, recalibration.statistics)
    }

    /// AdaBN in one step from moments measured elsewhere (live traffic): each BatchNorm takes the
    /// statistics its input had under the statistics then in use. Not exact for layers after a
    /// changed one (their inputs change with it); a dataset recalibration is.
    public static func recalibrated(
        _ classifier: any ImageClassifier, measured: [String: ChannelMoments]
    ) -> (any ImageClassifier, [String: RunningStatistics]) {
        var statistics: [String: RunningStatistics] = [:]
        for bn in classifier.batchNormLayers {
            guard let moments = measured[bn.name], moments.count > 0 else { continue }
            statistics[bn.name] = RunningStatistics(mean: moments.mean.map(Float.init), variance: moments.variance.map(Float.init))
        }
        return (classifier.replacingRunningStatistics(statistics), statistics)
    }
}

/// AdaBN layer by layer (`EstimationShift.recalibrated(_:inputs:afterLayer:)`), one batch at a
/// time so that its caller may stop or let other work in between: `measure` every batch up to
/// `layer`, then `advance` to the next layer; when `layer` is nil, `network` has every
/// BatchNorm's new statistics. `measure` may run on any thread; one batch at a time.
public struct LayerwiseRecalibration: Sendable {
    public let original: any ImageClassifier
    let layers: [String]
    /// The statistics measured so far, by layer name.
    public private(set) var statistics: [String: RunningStatistics] = [:]
    /// `original` with the statistics measured so far.
    public private(set) var network: any ImageClassifier
    public private(set) var layersDone = 0
    private var recorder: NormalizationRecorder

    public init(_ classifier: any ImageClassifier) {
        original = classifier
        network = classifier
        layers = classifier.batchNormLayers.map(\.name)
        recorder = NormalizationRecorder(only: Set(layers.prefix(1)))
    }

    public var layerCount: Int { layers.count }
    /// The BatchNorm whose input `measure` accumulates; nil when all are done.
    public var layer: String? { layersDone < layers.count ? layers[layersDone] : nil }

    /// Adds `input`'s activations at `layer`'s input, under the statistics measured so far.
    public func measure(_ input: Tensor) throws {
        guard let layer else { return }
        do {
            _ = try network.forward(input, context: ForwardContext(observer: recorder, stopAtNormalization: layer))
        } catch is ForwardStopped {}
    }

    /// Gives `layer` the mean and biased variance of what `measure` saw, and moves to the next.
    public mutating func advance() throws {
        guard let layer else { return }
        guard let moments = recorder.moments[layer] else {
            throw DiagnosticsRequestError("the forward pass never reached \(layer)")
        }
        statistics[layer] = RunningStatistics(mean: moments.mean.map(Float.init), variance: moments.variance.map(Float.init))
        network = original.replacingRunningStatistics(statistics)
        layersDone += 1
        recorder = NormalizationRecorder(only: Set(self.layer.map { [$0] } ?? []))
    }
}

/// A dataset's images as preprocessed batches, read lazily.
public struct DatasetBatches: Sequence, Sendable {
    let pipeline: ModelPipeline
    let dataset: any ImageDataset
    public let total: Int
    let batchSize: Int
    let maxPixels: Int

    public struct Iterator: IteratorProtocol {
        let batches: DatasetBatches
        var position = 0

        public mutating func next() -> Result<Tensor, any Error>? {
            guard position < batches.total else { return nil }
            let end = Swift.min(position + batches.batchSize, batches.total)
            let range = position..<end
            position = end
            return Result {
                let images = try range.map { try batches.dataset.item($0, maxPixels: batches.maxPixels).image }
                return batches.pipeline.input(images: images)
            }
        }
    }

    public func makeIterator() -> Iterator { Iterator(batches: self) }
}
