import NFLayers

/// One BatchNorm layer's input as raw sums that several replicas' sums add up to exactly:
/// deviations from the layer's running mean, per channel. Pooled over replicas (each sum added),
/// with N values per channel:
///
///     d_c      = (deviationUp_c - deviationDown_c) / N          (= mu_c - running_mean_c)
///     sigma2_c = squaredDeviations_c / N - d_c^2                 (biased, as BatchNorm's)
///     esm_mean = sqrt(sum_c d_c^2)      esm_var = sqrt(sum_c (running_var_c - sigma2_c)^2)
///
/// which is the estimation shift of every replica's images taken together (not the average of
/// the replicas' own, which differs). The signed sum of deviations is split by the sign of each
/// observed pass's own sum into two parts that only grow, so each is a Prometheus counter.
public struct EstimationShiftSums: Sendable, Equatable {
    /// Values each channel has seen (images x height x width).
    public private(set) var values: Int
    /// Per channel, the sums of `x - running_mean` of the passes where that sum was positive.
    public private(set) var deviationUp: [Double]
    /// Per channel, minus the sums of `x - running_mean` of the passes where it was negative.
    public private(set) var deviationDown: [Double]
    /// Per channel, the sum of `(x - running_mean)^2`.
    public private(set) var squaredDeviations: [Double]

    public init(channels: Int) {
        values = 0
        deviationUp = [Double](repeating: 0, count: channels)
        deviationDown = deviationUp
        squaredDeviations = deviationUp
    }

    /// Every field given (the sums of other replicas, pooled in tests).
    public init(values: Int, deviationUp: [Double], deviationDown: [Double], squaredDeviations: [Double]) {
        self.values = values
        self.deviationUp = deviationUp
        self.deviationDown = deviationDown
        self.squaredDeviations = squaredDeviations
    }

    public var channels: Int { deviationUp.count }

    /// Adds one pass's moments of the layer's input, taken against `runningMean`:
    /// `sum (x - m) = n (mean - m)` and `sum (x - m)^2 = M2 + n (mean - m)^2`.
    public mutating func add(_ pass: ChannelMoments, runningMean: [Float]) {
        precondition(pass.channels == channels && runningMean.count == channels, "a layer of \(channels) channels")
        guard pass.count > 0 else { return }
        let n = Double(pass.count)
        for c in 0..<channels {
            let shift = pass.mean[c] - Double(runningMean[c])
            let sum = n * shift
            if sum > 0 { deviationUp[c] += sum } else { deviationDown[c] -= sum }
            squaredDeviations[c] += pass.m2[c] + n * shift * shift
        }
        values += pass.count
    }

    /// The sums of two replicas (or more, folded), as Prometheus' `sum` gives them.
    public static func + (a: Self, b: Self) -> Self {
        precondition(a.channels == b.channels, "the same layer")
        return Self(
            values: a.values + b.values, deviationUp: zip(a.deviationUp, b.deviationUp).map(+),
            deviationDown: zip(a.deviationDown, b.deviationDown).map(+), squaredDeviations: zip(a.squaredDeviations, b.squaredDeviations).map(+))
    }

    /// The layer's estimation shift from these sums and its running variance; nil before any value.
    public func estimationShift(runningVariance: [Float]) -> (esmMean: Double, esmVar: Double)? {
        guard values > 0 else { return nil }
        let n = Double(values)
        var meanSquares = 0.0, varSquares = 0.0
        for c in 0..<channels {
            let d = (deviationUp[c] - deviationDown[c]) / n
            let variance = squaredDeviations[c] / n - d * d
            meanSquares += d * d
            let dv = Double(runningVariance[c]) - variance
            varSquares += dv * dv
        }
        return (meanSquares.squareRoot(), varSquares.squareRoot())
    }

    /// A short name for a network's BatchNorm statistics, the same in every process that loaded
    /// the same ones (FNV-1a over the layers' names and running statistics): the `statistics`
    /// label that keeps replicas' sums of different statistics apart.
    public static func statisticsID(_ layers: [BatchNorm2d]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        for layer in layers {
            for byte in layer.name.utf8 { mix(byte) }
            for value in layer.runningMean + layer.runningVar {
                var bits = value.bitPattern
                for _ in 0..<4 {
                    mix(UInt8(truncatingIfNeeded: bits))
                    bits >>= 8
                }
            }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
