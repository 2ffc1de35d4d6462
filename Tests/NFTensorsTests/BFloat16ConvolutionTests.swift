import Foundation
import Testing

@testable import NFTensors

/// The bf16 convolution (oneDNN's bf16 kernels) against a plain reference of the same
/// arithmetic: input and weights rounded to bf16 by `roundedToBFloat16` (round to nearest even,
/// checked here on values whose rounding is known), then convolved in FP32 by
/// `referenceConvolution`. Those agree to FP32 rounding of the sums; the bf16 result against the
/// FP32 convolution is held to the signal-to-noise ratio that 8 significant bits allow (each
/// rounding has a relative error of at most 2^-9, about 54 dB; 40 dB asked of sums of many).
/// Where oneDNN has no bf16 convolution (AVX2 CPUs) the convolution tests are skipped and
/// `isAvailable` is false; the refusal this gives is tested in NFServerTests' PrecisionTests.
@Suite struct BFloat16ConvolutionTests {
    @Test func roundingIsToNearestEven() {
        #expect(roundedToBFloat16(1) == 1)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1.
        #expect(roundedToBFloat16(1 + 0x1p-8) == 1)
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to the even one, 1 + 2^-6.
        #expect(roundedToBFloat16(1 + 3 * 0x1p-8) == 1 + 0x1p-6)
        #expect(roundedToBFloat16(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7)
        #expect(roundedToBFloat16(-3.1415927) == -3.140625)
        #expect(roundedToBFloat16(.infinity) == .infinity)
        #expect(roundedToBFloat16(.nan).isNaN)
        #expect(roundedToBFloat16(Float.greatestFiniteMagnitude) == .infinity)
    }

    @Test(.enabled(if: BFloat16Convolution.isAvailable, "oneDNN has no bf16 convolution on this CPU"), arguments: 0..<12)
    func matchesTheReferenceOfTheSameArithmetic(seed: Int) throws {
        var r = TestRandom(seed: UInt64(seed) + 300)
        let (g, n, h, w) = r.convolutionCase(seed: seed, inputs: 40, outputs: 36)
        let inC = g.inChannels, outC = g.outChannels
        let input = r.tensor([n, inC, h, w]), weight = r.tensor(g.weightShape), bias = seed % 3 == 0 ? nil : r.tensor([outC])
        let layout: PlanLayout = seed % 2 == 0 ? .blocked : .channelsLast
        let bf16 = BFloat16Convolution(Convolution(geometry: g, weight: weight, bias: bias))
        let x = try BlockedTensor(input, layout: layout)

        func rounded(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, storage: t.storage.map(roundedToBFloat16)) }
        let reference = referenceConvolution(rounded(input), weight: rounded(weight), bias: bias, geometry: g)
        let got = try bf16.blocked(x).plain()
        #expect(got.shape == reference.shape)
        #expect(got.maxAbsDifference(reference) <= 1e-4 * max(1, reference.maxAbs), "seed \(seed): \(got.maxAbsDifference(reference))")
        let exact = referenceConvolution(input, weight: weight, bias: bias, geometry: g)
        let snr = QuantizedConvolutionTests.snr(exact, got)
        #expect(snr > 40, "seed \(seed): \(snr) dB")
        #expect(got != exact, "seed \(seed): the inputs were rounded")

        // Fused post-ops as the FP32 plan fuses them: activation and scale, the residual sum, ReLU after.
        let residual = r.tensor(reference.shape)
        var expected = reference
        Activation.silu.apply(&expected)
        expected.scale(by: 1.5)
        expected.add(residual, relu: true)
        let fused = try bf16.blocked(
            x, activation: .silu, activationScale: 1.5, accumulatingInto: try BlockedTensor(residual, layout: layout), after: .relu
        ).plain()
        #expect(fused.maxAbsDifference(expected) <= 1e-4 * max(1, expected.maxAbs), "seed \(seed) fused")
    }

    /// A bf16 convolution writes bf16 for the next one, which then reads it without rounding it
    /// again: the same result as rounding the FP32 output itself.
    @Test(.enabled(if: BFloat16Convolution.isAvailable, "oneDNN has no bf16 convolution on this CPU"))
    func handsItsOutputToTheNextConvolution() throws {
        var r = TestRandom(seed: 43)
        let g1 = ConvolutionGeometry(inChannels: 12, outChannels: 20, kernel: 3, padding: .symmetric(1, 1))
        let g2 = ConvolutionGeometry(inChannels: 20, outChannels: 8, kernel: 1, padding: .symmetric(0, 0))
        let first = BFloat16Convolution(Convolution(geometry: g1, weight: r.tensor(g1.weightShape), bias: r.tensor([20])))
        let second = BFloat16Convolution(Convolution(geometry: g2, weight: r.tensor(g2.weightShape), bias: nil))
        let x = try BlockedTensor(r.tensor([2, 12, 9, 7]))
        let handed = try first.blocked(x, activation: .gelu, output: .bf16)
        #expect(handed.element == .bf16)
        #expect(throws: TensorError.self) { try handed.plain() }
        let expected = try second.blocked(try first.blocked(x, activation: .gelu)).plain()
        #expect(try second.blocked(handed).plain().maxAbsDifference(expected) <= 1e-5 * max(1, expected.maxAbs))
    }
}
