/// Short, deterministic number text: tick labels, tooltips and SVG coordinates.
public enum NumberFormatting {
    /// `value` rounded to `significantDigits` (1...15), trailing zeros dropped: plain decimals for
    /// magnitudes in [0.001, 1e6) ("0", "0.5", "1.25", "12000", "0.001"), otherwise exponent
    /// form ("1e-5", "2.5e6"). Never "-0"; empty for a non-finite value.
    public static func format(_ value: Double, significantDigits: Int = 4) -> String {
        guard value.isFinite else { return "" }
        guard value != 0 else { return "0" }
        let digits = min(max(significantDigits, 1), 15)
        let magnitude = abs(value)
        var exponent = Int(decimalLog(magnitude).rounded(.down))
        var mantissa = roundedMantissa(magnitude, digits: digits, exponent: exponent)
        // log10 can be off by one near powers of ten, and rounding can carry into a new digit.
        if mantissa >= powerOfTen(digits) {
            exponent += 1
            mantissa = roundedMantissa(magnitude, digits: digits, exponent: exponent)
        } else if mantissa < powerOfTen(digits - 1) {
            exponent -= 1
            mantissa = roundedMantissa(magnitude, digits: digits, exponent: exponent)
        }
        var text = String(UInt64(mantissa))
        while text.count > 1, text.hasSuffix("0") { text.removeLast() }
        let body = (-3..<6).contains(exponent) ? plain(text, exponent: exponent) : scientific(text, exponent: exponent)
        return value < 0 ? "-" + body : body
    }

    /// A coordinate with at most two decimals ("12", "12.5", "-0.25"); never "-0".
    static func coordinate(_ value: Double) -> String {
        let hundredths = Int64((min(max(value, -1e12), 1e12) * 100).rounded())
        let whole = String(abs(hundredths) / 100)
        var fraction = String(abs(hundredths) % 100)
        if fraction.count == 1 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let sign = hundredths < 0 ? "-" : ""
        return sign + whole + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// `magnitude` as an integer of `digits` digits, taking 10^exponent as its leading digit's place.
    /// Scaled in steps of at most 10^300, so that tiny and huge magnitudes stay finite.
    private static func roundedMantissa(_ magnitude: Double, digits: Int, exponent: Int) -> Double {
        var value = magnitude
        var shift = digits - 1 - exponent
        while shift != 0 {
            let step = min(max(shift, -300), 300)
            value = scaled(value, byPowerOfTen: step)
            shift -= step
        }
        return min(value.rounded(), powerOfTen(digits))
    }

    /// Significant digits `text` (no trailing zeros) with the first at 10^exponent, -3 <= exponent < 6.
    private static func plain(_ text: String, exponent: Int) -> String {
        if exponent < 0 { return "0." + String(repeating: "0", count: -exponent - 1) + text }
        let integerCount = exponent + 1
        if text.count <= integerCount { return text + String(repeating: "0", count: integerCount - text.count) }
        return String(text.prefix(integerCount)) + "." + String(text.dropFirst(integerCount))
    }

    private static func scientific(_ text: String, exponent: Int) -> String {
        let mantissa = text.count == 1 ? text : String(text.prefix(1)) + "." + String(text.dropFirst())
        return mantissa + "e" + String(exponent)
    }
}
