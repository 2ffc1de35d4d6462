/// The range an axis shows and the values it labels. Positions are computed in axis
/// coordinates: the value itself on a linear axis, its base-10 logarithm on a log axis.
struct AxisRange: Sendable, Equatable {
    var scale: AxisScale
    /// Ends of the shown range in axis coordinates; `lower < upper` always.
    var lower: Double
    var upper: Double
    /// Tick values (data values, not logarithms), ascending, all inside the range.
    var ticks: [Double]

    /// Fraction of the way from the range's lower end to its upper end; nil for a value the
    /// scale cannot show.
    func fraction(of value: Double) -> Double? {
        guard isPlottable(value, on: scale) else { return nil }
        let coordinate = scale == .log ? decimalLog(value) : value
        return (coordinate - lower) / (upper - lower)
    }
}

/// Nice axis ranges and ticks.
enum Ticks {
    /// Share of the data's span added at each end, so no point sits on the frame.
    static let padding = 0.04
    /// Tick count the linear axes aim for.
    static let targetCount = 6

    /// A linear axis around `data` (nil: no data, shown as 0...1), padded, with ticks at
    /// multiples of 1, 2, 2.5 or 5 x 10^k (integers only when `integersOnly`). A single value
    /// is widened by 10% of itself (1 when zero or when `integersOnly`).
    static func linear(_ data: ClosedRange<Double>?, integersOnly: Bool = false) -> AxisRange {
        var lower = data?.lowerBound ?? 0
        var upper = data?.upperBound ?? 1
        if lower == upper {
            let widening = integersOnly || lower == 0 ? 1 : abs(lower) / 10
            lower -= widening
            upper += widening
        }
        let pad = (upper - lower) * padding
        lower -= pad
        upper += pad
        return AxisRange(scale: .linear, lower: lower, upper: upper, ticks: niceTicks(lower, upper, integersOnly: integersOnly))
    }

    /// A log axis around `data` (positive values; nil: no data, shown as 1...10), padded in
    /// decades, with ticks at powers of ten (every 2nd, 5th, 10th... power over many decades).
    /// A range with fewer than two powers of ten inside widens to the decades around it.
    static func logarithmic(_ data: ClosedRange<Double>?) -> AxisRange {
        var lower = data.map { decimalLog($0.lowerBound) } ?? 0
        var upper = data.map { decimalLog($0.upperBound) } ?? 1
        if lower == upper {
            lower -= 0.5
            upper += 0.5
        }
        let pad = (upper - lower) * padding
        lower -= pad
        upper += pad
        if upper.rounded(.down) - lower.rounded(.up) < 1 {
            lower = lower.rounded(.down)
            upper = upper.rounded(.up)
        }
        let first = Int(lower.rounded(.up))
        let last = Int(upper.rounded(.down))
        var step = 1
        for candidate in [1, 2, 5, 10, 20, 50, 100] {
            step = candidate
            if (last - first) / candidate + 1 <= targetCount + 2 { break }
        }
        let firstTick = Int((Double(first) / Double(step)).rounded(.up)) * step
        let ticks = stride(from: firstTick, through: last, by: step).map { powerOfTen($0) }
        return AxisRange(scale: .log, lower: lower, upper: upper, ticks: ticks)
    }

    /// Ticks in `lower...upper` at multiples of the 1, 2, 2.5, 5 x 10^k step whose tick count is
    /// closest to `targetCount` (the smaller step on a tie). Each tick is computed as
    /// `i * mantissa` scaled by 10^k once, so 0.3 is 0.3 and not 0.30000000000000004.
    static func niceTicks(_ lower: Double, _ upper: Double, integersOnly: Bool = false) -> [Double] {
        let span = upper - lower
        guard span > 0, span.isFinite else { return [] }
        let magnitude = Int(decimalLog(span / Double(targetCount)).rounded(.down))
        var best: [Double] = []
        for exponent in (magnitude - 1)...(magnitude + 1) {
            for mantissa in [1.0, 2.0, 2.5, 5.0] {
                if integersOnly, exponent < 0 || (exponent == 0 && mantissa == 2.5) { continue }
                let step = scaled(mantissa, byPowerOfTen: exponent)
                let first = (lower / step).rounded(.up)
                let last = (upper / step).rounded(.down)
                // Beyond 2^52 consecutive multiples are no longer distinct doubles.
                guard last >= first, abs(first) < 0x1p52, abs(last) < 0x1p52, last - first < 100 else { continue }
                let ticks = stride(from: first, through: last, by: 1).map { scaled($0 * mantissa, byPowerOfTen: exponent) }
                if best.isEmpty || abs(ticks.count - targetCount) < abs(best.count - targetCount) { best = ticks }
            }
        }
        return best
    }
}
