import NFLayers
import Synchronization

/// The per-layer input moments of every image a served model classified: since the start (or
/// the last reset), and over recent traffic in buckets of `bucketImages` images, of which the
/// last `maxBuckets` are kept. Requests merge their own `NormalizationRecorder` in after their
/// forward pass (a merge costs a few operations per channel), so the estimation shift of live
/// traffic needs no labels and no second pass.
public final class LiveEstimationShift: Sendable {
    /// A served request's normalization inputs kept for the merge after its answer when its pass
    /// runs on the layers (`NormalizationRecorder(deferringUpTo:)`); beyond this, and always on
    /// an execution plan, they are reduced during the pass.
    public static let deferredBytes = 16 << 20

    public let bucketImages: Int
    public let maxBuckets: Int

    private struct Bucket {
        var images = 0
        var moments: [String: ChannelMoments] = [:]

        mutating func merge(_ other: [String: ChannelMoments], images count: Int) {
            images += count
            for (name, layer) in other {
                if var existing = moments[name] {
                    existing.merge(layer)
                    moments[name] = existing
                } else {
                    moments[name] = layer
                }
            }
        }
    }

    private struct State {
        var all = Bucket()
        var recent: [Bucket] = [Bucket()]
        /// Since the start or the last reset, per layer with a running mean.
        var sums: [String: EstimationShiftSums] = [:]
    }

    private let state = Mutex(State())
    /// The running mean of each BatchNorm layer (by name) the sums are taken against.
    private let runningMeans: [String: [Float]]
    /// `EstimationShiftSums.statisticsID` of the statistics compared with ("" when made without).
    public let statistics: String

    /// `batchNorms`: the layers whose raw sums are also kept (`sums`), against their running means.
    public init(bucketImages: Int = 100, maxBuckets: Int = 100, batchNorms: [BatchNorm2d] = []) {
        self.bucketImages = bucketImages
        self.maxBuckets = maxBuckets
        runningMeans = Dictionary(batchNorms.map { ($0.name, $0.runningMean) }) { first, _ in first }
        statistics = batchNorms.isEmpty ? "" : EstimationShiftSums.statisticsID(batchNorms)
    }

    /// Adds the moments one request measured over `images` images.
    public func record(_ moments: [String: ChannelMoments], images: Int) {
        state.withLock { state in
            for (name, layer) in moments {
                guard let mean = runningMeans[name], mean.count == layer.channels else { continue }
                state.sums[name, default: EstimationShiftSums(channels: layer.channels)].add(layer, runningMean: mean)
            }
            state.all.merge(moments, images: images)
            state.recent[state.recent.count - 1].merge(moments, images: images)
            if state.recent[state.recent.count - 1].images >= bucketImages {
                state.recent.append(Bucket())
                if state.recent.count > maxBuckets { state.recent.removeFirst() }
            }
        }
    }

    /// Everything since the start or the last reset.
    public var all: (moments: [String: ChannelMoments], images: Int) {
        state.withLock { ($0.all.moments, $0.all.images) }
    }

    /// The raw sums (`EstimationShiftSums`) of every BatchNorm layer reached, since the start or
    /// the last reset, with the images they cover: what `/metrics` exports for pooling across replicas.
    public var sums: (layers: [String: EstimationShiftSums], images: Int) {
        state.withLock { ($0.sums, $0.all.images) }
    }

    /// The most recent buckets holding at least `window` images (or all that are kept): whole
    /// requests, so it may hold a few more.
    public func recent(window: Int) -> (moments: [String: ChannelMoments], images: Int) {
        state.withLock { state in
            var merged = Bucket()
            for bucket in state.recent.reversed() {
                guard merged.images < window else { break }
                merged.merge(bucket.moments, images: bucket.images)
            }
            return (merged.moments, merged.images)
        }
    }

    /// The most images `recent(window:)` can cover.
    public var maxWindow: Int { bucketImages * (maxBuckets - 1) }

    public func reset() {
        state.withLock { $0 = State() }
    }
}
