#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The C library's base-10 logarithm, so that only this file imports the C library.
func decimalLog(_ x: Double) -> Double { log10(x) }

/// 10^k, correctly rounded for |k| <= 22 (where 10^|k| is exact in Double).
func powerOfTen(_ k: Int) -> Double {
    if (0...22).contains(k) { return exactPowersOfTen[k] }
    if (-22..<0).contains(k) { return 1 / exactPowersOfTen[-k] }
    return pow(10, Double(k))
}

/// `x * 10^k` rounded once, so that a decimal `x` scaled by an exact power of ten stays decimal:
/// dividing by 10^-k beats multiplying by its inexact reciprocal (3 * 0.1 != 0.3, 3 / 10 == 0.3).
func scaled(_ x: Double, byPowerOfTen k: Int) -> Double {
    k >= 0 ? x * powerOfTen(k) : x / powerOfTen(-k)
}

private let exactPowersOfTen: [Double] = {
    var powers: [Double] = [1]
    for _ in 1...22 { powers.append(powers[powers.count - 1] * 10) }
    return powers
}()

/// The largest magnitude plotted; beyond it a value is a gap, so that spans and padding stay finite.
let largestPlottedMagnitude = 1e300

/// A value that can be plotted on an axis of `scale`: finite, within +-1e300, and positive
/// (from 1e-300 on) on a log axis.
func isPlottable(_ value: Double, on scale: AxisScale) -> Bool {
    switch scale {
    case .linear: return value.isFinite && abs(value) <= largestPlottedMagnitude
    case .log: return value.isFinite && value >= 1 / largestPlottedMagnitude && value <= largestPlottedMagnitude
    }
}
