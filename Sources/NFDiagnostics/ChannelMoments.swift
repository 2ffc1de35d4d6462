import NFTensors

/// Per-channel moments of NCHW activations accumulated over any number of batches, in Double:
/// the one accumulator every diagnostic shares (signal propagation, BatchNorm estimation shift).
///
/// Each (sample, channel) plane is reduced exactly in two passes (its mean, then the sum of
/// squared deviations from it) and merged into the channel's running moments with Chan et al.'s
/// pairwise update, so neither a large mean nor millions of values cost precision the way
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
    public mutating func add(_ activation: Tensor) {
        let (n, c, h, w) = activation.nchw
        precondition(c == channels, "activation has \(c) channels, the moments \(channels)")
        let plane = h * w
        guard plane > 0 else { return }
        activation.storage.withUnsafeBufferPointer { values in
            for sample in 0..<n {
                for channel in 0..<c {
                    let start = (sample * c + channel) * plane
                    var sum = 0.0
                    for i in start..<(start + plane) { sum += Double(values[i]) }
                    let planeMean = sum / Double(plane)
                    var squares = 0.0
                    for i in start..<(start + plane) {
                        let d = Double(values[i]) - planeMean
                        squares += d * d
                    }
                    mergeChannel(channel, currentCount: count + sample * plane,
                                 otherCount: plane, otherMean: planeMean, otherM2: squares)
                }
            }
        }
        count += n * plane
    }

    /// Adds the values another accumulator saw (the same channels).
    public mutating func merge(_ other: ChannelMoments) {
        precondition(other.channels == channels, "cannot merge moments of \(other.channels) channels into \(channels)")
        guard other.count > 0 else { return }
        for channel in 0..<channels {
            mergeChannel(channel, currentCount: count,
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
