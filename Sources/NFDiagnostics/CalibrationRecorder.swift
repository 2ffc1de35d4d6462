import Foundation
import NFLayers
import NFTensors
import Synchronization

/// How int8 calibration turns what the images showed into each convolution input's range.
public enum CalibrationMethod: String, Sendable, CaseIterable {
    /// The smallest and largest value seen.
    case minmax
    /// The 99.99th percentile of |x| (`CalibrationRecorder.percentile`), from a histogram made
    /// in a second pass over the same images: a few outliers no longer stretch the scale.
    case percentile
    /// The clipping threshold whose quantized distribution of |x| is closest to the observed one
    /// in Kullback-Leibler divergence (TensorRT's entropy calibration;
    /// `CalibrationRecorder.entropyThreshold`), from the same histogram as percentile's.
    case entropy
}

/// Watches a plan's convolution inputs (`ObservationSite.convolutionInput`) over calibration
/// passes: in the first, each input's minimum and maximum; in the second (percentile and
/// entropy), a histogram of |x| over [0, largest |x| of the first pass].
public final class CalibrationRecorder: ForwardObserver {
    public static let percentile = 0.9999
    public static let bins = 4096

    public struct Seen: Sendable {
        public var min = Float.infinity, max = -Float.infinity
        public var histogram: [Int] = []
        var limit: Float { Swift.max(-min, max) }
    }

    private let state = Mutex<[String: Seen]>([:])
    private let histograms: Bool

    /// `after`: the first pass's recorder, for the histogram pass.
    public init(after first: CalibrationRecorder? = nil) {
        histograms = first != nil
        if let first { state.withLock { $0 = first.seen } }
    }

    public var seen: [String: Seen] { state.withLock { $0 } }

    public var observedSites: ObservedSites { .convolutionInputs }

    public func observe(_ site: ObservationSite, _ activation: Tensor) {
        guard case let .convolutionInput(name) = site else { return }
        let values = activation.storage
        state.withLock { table in
            var seen = table[name] ?? Seen()
            if histograms {
                let limit = seen.limit
                if seen.histogram.isEmpty { seen.histogram = [Int](repeating: 0, count: Self.bins) }
                if limit > 0 {
                    let perBin = Float(Self.bins) / limit
                    for v in values { seen.histogram[Swift.min(Self.bins - 1, Int(abs(v) * perBin))] += 1 }
                }
            } else {
                for v in values {
                    seen.min = Swift.min(seen.min, v)
                    seen.max = Swift.max(seen.max, v)
                }
            }
            table[name] = seen
        }
    }

    /// The ranges `method` chooses from what was seen (after the second pass for percentile).
    public func ranges(_ method: CalibrationMethod) -> [String: ActivationRange] {
        seen.mapValues { seen in
            guard seen.min <= seen.max else { return ActivationRange(min: 0, max: 0) }
            switch method {
            case .minmax:
                return ActivationRange(min: seen.min, max: seen.max)
            case .percentile, .entropy:
                let total = seen.histogram.reduce(0, +), limit = seen.limit
                guard total > 0 else { return ActivationRange(min: seen.min, max: seen.max) }
                let bins: Int
                if method == .entropy {
                    bins = Self.entropyThreshold(seen.histogram, levels: seen.min < 0 ? 128 : 256)
                } else {
                    var count = 0, bin = 0
                    while bin < Self.bins - 1 {
                        count += seen.histogram[bin]
                        if Double(count) >= Self.percentile * Double(total) { break }
                        bin += 1
                    }
                    bins = bin + 1
                }
                let threshold = limit * Float(bins) / Float(Self.bins)
                return ActivationRange(
                    min: seen.min < 0 ? -Swift.min(threshold, -seen.min) : seen.min, max: Swift.min(threshold, seen.max))
            }
        }
    }

    /// How many of `histogram`'s bins (counts of |x| over equal bins from 0) to keep, clipping
    /// the rest, so that quantizing what is kept to `levels` levels loses the least information
    /// (TensorRT's entropy calibration, as MXNet's `_get_optimal_threshold` computes it): for each
    /// candidate `i` (from `levels` bins up, in steps of 1/256 of the histogram), P is the first
    /// `i` bins with the clipped counts added to the last one; Q is the same `i` bins without
    /// them, merged into `levels` groups of `i / levels` bins (the last group takes the rest) and
    /// spread back evenly over each group's non-empty bins of P; both are smoothed (a count of
    /// 1e-4 moved onto their empty bins) and the candidate with the least KL(P || Q) wins, the
    /// first of equals (deterministic).
    public static func entropyThreshold(_ histogram: [Int], levels: Int) -> Int {
        let n = histogram.count
        guard n > levels, levels > 0 else { return n }
        let step = Swift.max(1, n / 256)
        var suffix = [Double](repeating: 0, count: n + 1)
        for b in stride(from: n - 1, through: 0, by: -1) { suffix[b] = suffix[b + 1] + Double(histogram[b]) }
        func smoothed(_ x: [Double]) -> [Double]? {
            let zeros = x.filter { $0 == 0 }.count, nonZeros = x.count - zeros
            guard nonZeros > 0 else { return nil }
            let epsilon = 1e-4, taken = epsilon * Double(zeros) / Double(nonZeros)
            return x.map { $0 == 0 ? epsilon : $0 - taken }
        }
        var best = n, bestDivergence = Double.infinity
        for i in stride(from: levels, through: n, by: step) {
            let sliced = histogram[0..<i].map(Double.init)
            var p = sliced
            p[i - 1] += suffix[i]
            let merged = i / levels
            var q = [Double](repeating: 0, count: i)
            for group in 0..<levels {
                let start = group * merged, end = group == levels - 1 ? i : start + merged
                let total = sliced[start..<end].reduce(0, +)
                let nonEmpty = p[start..<end].filter { $0 != 0 }.count
                guard nonEmpty > 0 else { continue }
                for b in start..<end where p[b] != 0 { q[b] = total / Double(nonEmpty) }
            }
            guard let ps = smoothed(p), let qs = smoothed(q) else { continue }
            let pTotal = ps.reduce(0, +), qTotal = qs.reduce(0, +)
            var divergence = 0.0
            for b in 0..<i where ps[b] > 0 {
                let pb = ps[b] / pTotal
                divergence += pb * log(pb / (qs[b] / qTotal))
            }
            if divergence < bestDivergence {
                bestDivergence = divergence
                best = i
            }
        }
        return best
    }
}
