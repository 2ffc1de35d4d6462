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
        for input in inputs { _ = try classifier.forward(input, context: ForwardContext(observer: recorder)) }
        return recorder.moments
    }

    /// AdaBN, layer by layer: each BatchNorm's running statistics become the mean and biased
    /// variance its input has over `inputs` when every earlier layer already uses its new
    /// statistics, so that afterwards the ESM on the same inputs is 0 up to rounding. Each
    /// layer costs one pass over the inputs up to that layer (`ForwardContext.stopAtNormalization`).
    public static func recalibrated(
        _ classifier: any ImageClassifier, inputs: [Tensor],
        afterLayer: (Int, Int) throws -> Void = { _, _ in }
    ) throws -> (any ImageClassifier, [String: RunningStatistics]) {
        var statistics: [String: RunningStatistics] = [:]
        var current = classifier
        let layers = classifier.batchNormLayers
        for (index, bn) in layers.enumerated() {
            let recorder = NormalizationRecorder(only: [bn.name])
            for input in inputs {
                do {
                    _ = try current.forward(input, context: ForwardContext(observer: recorder, stopAtNormalization: bn.name))
                } catch is ForwardStopped {}
            }
            guard let moments = recorder.moments[bn.name] else {
                throw DiagnosticsRequestError("the forward pass never reached \(bn.name)")
            }
            statistics[bn.name] = RunningStatistics(mean: moments.mean.map(Float.init), variance: moments.variance.map(Float.init))
            current = classifier.replacingRunningStatistics(statistics)
            try afterLayer(index + 1, layers.count)
        }
        return (current, statistics)
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
