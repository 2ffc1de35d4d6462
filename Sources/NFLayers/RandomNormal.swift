import Dispatch
import Foundation
import NFTensors

/// A small, fast, seeded generator (Steele, Lea & Flood 2014), with Box-Muller normals.
///
/// nfserve's Gaussian inputs are defined by it (value i of an `[N, C, H, W]` input, in row-major
/// order, is `Float(nextNormal())` of `SplitMix64(seed)`), so a reference script can reproduce
/// them exactly: tools/reference/make_spp_fixtures.py does.
public struct SplitMix64: Sendable, RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    public mutating func nextUniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992.0 }

    /// One standard normal value: `sqrt(-2 ln u1) * cos(2 pi u2)`.
    public mutating func nextNormal() -> Double {
        let u1 = nextUniform(), u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}

/// Large tensors of normal values for weights at initialization, made on every core (on the
/// OpenMP threads oneDNN computes with).
///
/// The values are split into chunks of `chunk` values; chunk j of stream s uses its own
/// `SplitMix64` seeded from (seed, s, j) and Marsaglia's polar method in Float (two 32-bit
/// uniforms in (-1, 1) from each 64-bit draw; pairs outside the unit disc are drawn again; each
/// accepted pair gives two normals, with one logarithm and no trigonometry: several times
/// faster than Box-Muller for the hundreds of millions of weights of a 600-layer design). The
/// result depends on the seed and stream only, not on the thread count.
public enum RandomNormal {
    static let chunk = 1 << 16

    /// `shape` filled with N(0, std^2).
    public static func tensor(shape: [Int], std: Double, seed: UInt64, stream: UInt64) -> Tensor {
        let count = shape.reduce(1, *)
        let scale = Float(std)
        return Tensor(shape: shape) { buffer in
            let chunks = (count + chunk - 1) / chunk
            let base = UnsafeSendablePointer(buffer.baseAddress)
            let fill: @Sendable (Int) -> Void = { j in
                guard let base = base.pointer else { return }
                let start = j * chunk, end = Swift.min(start + chunk, count)
                var generator = SplitMix64(seed: mix(seed, stream, UInt64(j)))
                var i = start
                while i < end {
                    let bits = generator.next()
                    // Two uniforms in (-1, 1) from the high 24 bits of each half.
                    let u = (Float(UInt32(truncatingIfNeeded: bits >> 40)) + 0.5) * 0x1p-23 - 1
                    let v = (Float(UInt32(truncatingIfNeeded: bits >> 8) & 0xFF_FFFF) + 0.5) * 0x1p-23 - 1
                    let s = u * u + v * v
                    guard s < 1 else { continue }
                    let factor = (-2 * Foundation.log(s) / s).squareRoot() * scale
                    base[i] = u * factor
                    if i + 1 < end { base[i + 1] = v * factor }
                    i += 2
                }
            }
            // On oneDNN's OpenMP threads: a second pool of threads here would compete with its
            // workers, which spin for a while after each convolution of the same pass.
            parallelFor(chunks, fill)
        }
    }

    /// A seed for chunk `chunk` of `stream`: three SplitMix64 steps over the inputs.
    static func mix(_ seed: UInt64, _ stream: UInt64, _ chunk: UInt64) -> UInt64 {
        var generator = SplitMix64(seed: seed)
        var value = generator.next() ^ stream
        generator = SplitMix64(seed: value)
        value = generator.next() ^ chunk
        generator = SplitMix64(seed: value)
        return generator.next()
    }
}

/// A buffer's base address carried into `parallelFor`'s closure, where each iteration
/// writes only its own disjoint range.
private struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>?
    init(_ pointer: UnsafeMutablePointer<Float>?) { self.pointer = pointer }
}
