import NFTensors

/// Per-channel moments of NCHW activations accumulated over any number of batches, in Double:
/// the one accumulator every diagnostic shares (signal propagation, BatchNorm estimation shift).
///
/// Each batch is reduced per channel in two passes (its mean, then the sum of squared deviations
/// from it) and merged into the channel's running moments with Chan et al.'s pairwise update, so neither a large mean nor millions of values cost precision the way
/// `E[x^2] - E[x]^2` would. Variances are biased (population), as BatchNorm and DeepMind's
/// `signal_metrics` use them.
public struct ChannelMoments: Sendable, Equatable {
    /// Values seen per channel (every channel sees the same number).
    public private(set) var count: Int
    /// Running mean of each channel.
    public private(set) var mean: [Double]
    /// Running sum of squared deviations from the mean, per channel.
    public private(set) var m2: [Double]

    public init(channels: Int) {
        count = 0
        mean = [Double](repeating: 0, count: channels)
        m2 = [Double](repeating: 0, count: channels)
    }

    public var channels: Int { mean.count }

    /// Adds every value of an `[N, C, H, W]` activation (C must equal `channels`).
    ///
    /// Per channel, over its N planes: the mean in one pass, the sum of squared deviations from
    /// it in a second, both in Double on 8 lanes (each load of 8 Floats widened at once), then
    /// one pairwise merge into the running moments. `reference(_:)` is the plain scalar
    /// computation it is tested against.
    public mutating func add(_ activation: Tensor) {
        let (n, c, h, w) = activation.nchw
        precondition(c == channels, "activation has \(c) channels, the moments \(channels)")
        let plane = h * w, total = n * plane
        guard total > 0 else { return }
        activation.storage.withUnsafeBufferPointer { values in
            let base = values.baseAddress!
            for channel in 0..<c {
                var sum = 0.0
                for sample in 0..<n { sum += Self.sum(base + (sample * c + channel) * plane, count: plane) }
                let mean = sum / Double(total)
                var squares = 0.0
                for sample in 0..<n {
                    squares += Self.squaredDeviations(base + (sample * c + channel) * plane, count: plane, from: mean)
                }
                mergeChannel(channel, currentCount: count, otherCount: total, otherMean: mean, otherM2: squares)
            }
        }
        count += total
    }

    /// Adds every value of an activation an execution plan holds in its blocked layout, reduced
    /// where it lies (`BlockedTensor.channelMoments`, the same two passes in Double, over the
    /// OpenMP threads) and merged as `add(_:)` merges a plain batch.
    public mutating func add(_ activation: BlockedTensor) {
        precondition(activation.c == channels, "activation has \(activation.c) channels, the moments \(channels)")
        let batch = activation.channelMoments()
        guard batch.count > 0 else { return }
        for channel in 0..<channels {
            mergeChannel(
                channel, currentCount: count, otherCount: batch.count, otherMean: batch.mean[channel],
                otherM2: batch.m2[channel])
        }
        count += batch.count
    }

    /// The sum of `count` values, in Double.
    @inline(__always)
    static func sum(_ values: UnsafePointer<Float>, count: Int) -> Double {
        let raw = UnsafeRawPointer(values)
        var lanes = SIMD8<Double>(), i = 0
        while i + 8 <= count {
            lanes += SIMD8<Double>(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            total += Double(values[i])
            i += 1
        }
        return total
    }

    /// The sum of `(x - mean)^2` over `count` values, in Double.
    @inline(__always)
    static func squaredDeviations(_ values: UnsafePointer<Float>, count: Int, from mean: Double) -> Double {
        let raw = UnsafeRawPointer(values)
        let m = SIMD8<Double>(repeating: mean)
        var lanes = SIMD8<Double>(), i = 0
        while i + 8 <= count {
            let d = SIMD8<Double>(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)) - m
            lanes += d * d
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            let d = Double(values[i]) - mean
            total += d * d
            i += 1
        }
        return total
    }

    /// Per-channel mean and biased variance of the activations, computed plainly in Double:
    /// the reference `add` is tested against.
    public static func reference(_ activations: [Tensor]) -> (mean: [Double], variance: [Double]) {
        guard let c = activations.first?.nchw.c else { return ([], []) }
        var sums = [Double](repeating: 0, count: c), counts = 0
        for a in activations {
            let (n, _, h, w) = a.nchw
            for s in 0..<n { for ch in 0..<c { for i in 0..<(h * w) { sums[ch] += Double(a.storage[(s * c + ch) * h * w + i]) } } }
            counts += n * h * w
        }
        let mean = sums.map { $0 / Double(counts) }
        var squares = [Double](repeating: 0, count: c)
        for a in activations {
            let (n, _, h, w) = a.nchw
            for s in 0..<n {
                for ch in 0..<c {
                    for i in 0..<(h * w) {
                        let d = Double(a.storage[(s * c + ch) * h * w + i]) - mean[ch]
                        squares[ch] += d * d
                    }
                }
            }
        }
        return (mean, squares.map { $0 / Double(counts) })
    }

    /// Adds the values another accumulator saw (the same channels).
    public mutating func merge(_ other: ChannelMoments) {
        precondition(other.channels == channels, "cannot merge moments of \(other.channels) channels into \(channels)")
        guard other.count > 0 else { return }
        for channel in 0..<channels {
            mergeChannel(
                channel, currentCount: count,
                otherCount: other.count, otherMean: other.mean[channel], otherM2: other.m2[channel])
        }
        count += other.count
    }

    /// Chan et al.: moments of the union of `currentCount` values (channel's state) and
    /// `otherCount` values with mean `otherMean` and squared deviations `otherM2`.
    private mutating func mergeChannel(_ channel: Int, currentCount: Int, otherCount: Int, otherMean: Double, otherM2: Double) {
        let total = Double(currentCount + otherCount)
        let delta = otherMean - mean[channel]
        mean[channel] += delta * Double(otherCount) / total
        m2[channel] += otherM2 + delta * delta * Double(currentCount) * Double(otherCount) / total
    }

    /// Biased (population) variance of each channel; 0 before any value.
    public var variance: [Double] {
        count == 0 ? m2.map { _ in 0 } : m2.map { $0 / Double(count) }
    }

    /// `(1/C) * sum_c mean_c^2`: the SPP's average squared channel mean.
    public var averageSquaredMean: Double {
        channels == 0 ? 0 : mean.reduce(0) { $0 + $1 * $1 } / Double(channels)
    }

    /// `(1/C) * sum_c var_c`: the SPP's average channel variance.
    public var averageVariance: Double {
        channels == 0 ? 0 : variance.reduce(0, +) / Double(channels)
    }
}
