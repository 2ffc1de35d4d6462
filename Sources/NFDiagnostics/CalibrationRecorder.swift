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
}

/// Watches a plan's convolution inputs (`ObservationSite.convolutionInput`) over calibration
/// passes: in the first, each input's minimum and maximum; in the second (percentile only),
/// a histogram of |x| over [0, largest |x| of the first pass].
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
            case .percentile:
                let total = seen.histogram.reduce(0, +), limit = seen.limit
                guard total > 0 else { return ActivationRange(min: seen.min, max: seen.max) }
                var count = 0, bin = 0
                while bin < Self.bins - 1 {
                    count += seen.histogram[bin]
                    if Double(count) >= Self.percentile * Double(total) { break }
                    bin += 1
                }
                let threshold = limit * Float(bin + 1) / Float(Self.bins)
                return ActivationRange(
                    min: seen.min < 0 ? -Swift.min(threshold, -seen.min) : seen.min, max: Swift.min(threshold, seen.max))
            }
        }
    }
}
