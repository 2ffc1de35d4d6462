import Foundation
import Testing

@testable import NFTensors

/// The int8 convolution (oneDNN, channels-last) against a plain reference of the same arithmetic:
/// the input quantized with the calibrated scale and the weights per output channel, each
/// dequantized back to FP32 and convolved by `referenceConvolution`. Those agree to FP32
/// rounding; the int8 result against the FP32 convolution is held to a signal-to-noise bound
/// that quantizing the input to 8 bits and the weights to 7 gives (about 6 dB per bit; 30 dB asked).
@Suite struct QuantizedConvolutionTests {
    /// round(x / scale) saturated to the type's range, times scale (what the quantization does).
    static func fakeQuantized(_ x: Tensor, _ range: ActivationRange) -> Tensor {
        let s = range.scale, low: Float = range.isSigned ? -128 : 0, high: Float = range.isSigned ? 127 : 255
        return Tensor(shape: x.shape, storage: x.storage.map { max(low, min(high, ($0 / s).rounded(.toNearestOrEven))) * s })
    }

    static func snr(_ signal: Tensor, _ approximation: Tensor) -> Double {
        var power = 0.0, noise = 0.0
        for (a, b) in zip(signal.storage, approximation.storage) {
            power += Double(a) * Double(a)
            noise += Double(a - b) * Double(a - b)
        }
        return 10 * log10(power / max(noise, 1e-30))
    }

    @Test func weightsQuantizePerOutputChannel() {
        let q = QuantizedWeights([0.4, -1, 0.25, 0, 0, 0, 2, 1.2, -0.01], outChannels: 3)
        #expect(q.scales == [1 / 63, 1, 2 / 63])
        #expect(q.values == [25, -63, 16, 0, 0, 0, 63, 38, 0])
        #expect(ActivationRange(min: 0, max: 2.55).scale == 0.01)
        #expect(!ActivationRange(min: 0, max: 1).isSigned)
        #expect(ActivationRange(min: -2.54, max: 1).scale == 0.02)
        #expect(ActivationRange(min: 0, max: 0).scale == 1)
        // A range too small for a finite reciprocal (a hand-edited calibration.json) quantizes like zero.
        #expect(ActivationRange(min: 0, max: 1e-40).scale == 1)
        #expect(ActivationRange(min: -3e38, max: 3e38).scale.isFinite)
    }

    @Test(arguments: 0..<16)
    func matchesTheReferenceOfTheSameArithmetic(seed: Int) throws {
        var r = TestRandom(seed: UInt64(seed) + 100)
        let (g, n, h, w) = r.convolutionCase(seed: seed, inputs: 24, outputs: 20)
        let inC = g.inChannels, outC = g.outChannels
        // Half the cases non-negative (after ReLU: u8), half signed (s8).
        var input = r.tensor([n, inC, h, w])
        if seed % 2 == 0 { input = Tensor(shape: input.shape, storage: input.storage.map { max(0, $0) * 3 }) }
        let range = ActivationRange(min: input.storage.min()!, max: input.storage.max()!)
        let weight = r.tensor(g.weightShape), bias = seed % 3 == 0 ? nil : r.tensor([outC])
        let conv = Convolution(geometry: g, weight: weight, bias: bias)
        let quantized = QuantizedConvolution(conv, input: range)
        let x = try BlockedTensor(input, layout: .channelsLast)

        let reference = referenceConvolution(
            Self.fakeQuantized(input, range), weight: Tensor(shape: g.weightShape, storage: quantized.weights.dequantized),
            bias: bias, geometry: g)
        let got = try quantized.blocked(x).plain()
        #expect(got.shape == reference.shape)
        // The first convolution of a plan quantizes the plain NCHW input straight to channels-last.
        #expect(try quantized.blocked(plain: input).plain() == got, "seed \(seed): from the plain input")
        #expect(got.maxAbsDifference(reference) <= 1e-4 * max(1, reference.maxAbs), "seed \(seed): \(got.maxAbsDifference(reference))")

        let exact = referenceConvolution(input, weight: weight, bias: bias, geometry: g)
        #expect(Self.snr(exact, got) > 30, "seed \(seed): \(Self.snr(exact, got)) dB")

        // Fused post-ops as the FP32 plan fuses them: activation and scale, the residual sum, ReLU after.
        let residual = r.tensor(reference.shape)
        var expected = reference
        Activation.gelu.apply(&expected)
        expected.scale(by: 1.5)
        expected.add(residual, relu: true)
        let fused = try quantized.blocked(
            x, activation: .gelu, activationScale: 1.5,
            accumulatingInto: try BlockedTensor(residual, layout: .channelsLast), after: .relu
        ).plain()
        #expect(fused.maxAbsDifference(expected) <= 1e-4 * max(1, expected.maxAbs), "seed \(seed) fused")
    }

    /// A convolution that writes its output in the next one's input element (u8 after ReLU, s8
    /// after GELU) hands it over: the next one skips its quantization, and the result is what it
    /// gives quantizing the FP32 output itself. The element is checked where it is read.
    @Test(arguments: [Activation.relu, .gelu])
    func handsItsOutputToTheNextConvolution(activation: Activation) throws {
        var r = TestRandom(seed: 41)
        let g1 = ConvolutionGeometry(inChannels: 12, outChannels: 20, kernel: 3, padding: .symmetric(1, 1))
        let g2 = ConvolutionGeometry(inChannels: 20, outChannels: 8, kernel: 1, padding: .symmetric(0, 0))
        let input = r.tensor([2, 12, 9, 7])
        let first = QuantizedConvolution(
            Convolution(geometry: g1, weight: r.tensor(g1.weightShape), bias: r.tensor([20])),
            input: ActivationRange(min: input.storage.min()!, max: input.storage.max()!))
        let x = try BlockedTensor(input, layout: .channelsLast)
        let between = try first.blocked(x, activation: activation)
        let plain = try between.plain()
        let second = QuantizedConvolution(
            Convolution(geometry: g2, weight: r.tensor(g2.weightShape), bias: nil),
            input: ActivationRange(min: plain.storage.min()!, max: plain.storage.max()!))
        #expect(second.inputElement == (activation == .relu ? .u8(scale: second.input.scale) : .s8(scale: second.input.scale)))
        let handed = try first.blocked(x, activation: activation, output: second.inputElement)
        #expect(handed.element == second.inputElement)
        #expect(throws: TensorError.self) { try handed.plain() }
        let expected = try second.blocked(between).plain()
        #expect(try second.blocked(handed).plain().maxAbsDifference(expected) <= 1e-5 * max(1, expected.maxAbs))
        // Not with a residual sum; and only to the element the reader takes.
        #expect(throws: TensorError.self) {
            try first.blocked(x, accumulatingInto: try BlockedTensor(plain, layout: .channelsLast), output: second.inputElement)
        }
        #expect(throws: TensorError.self) { try first.blocked(handed) }
    }

    /// An int8 ResNet's residual stream: a block's input quantized once (`quantized`), its last
    /// convolution adding those u8 levels with their step and writing the sum in the next block's
    /// input element. The result is what the FP32 sum with the dequantized residual gives,
    /// quantized by the next convolution; dequantizing gives `level * step`.
    @Test func addsAQuantizedResidualAndWritesTheNextInput() throws {
        var r = TestRandom(seed: 43)
        let g1 = ConvolutionGeometry(inChannels: 12, outChannels: 20, kernel: 3, padding: .symmetric(1, 1))
        let g2 = ConvolutionGeometry(inChannels: 20, outChannels: 8, kernel: 1, padding: .symmetric(0, 0))
        let input = r.tensor([2, 12, 9, 7])
        let shortcut = Tensor(shape: [2, 20, 9, 7], storage: r.tensor([2, 20, 9, 7]).storage.map { abs($0) })
        let first = QuantizedConvolution(
            Convolution(geometry: g1, weight: r.tensor(g1.weightShape), bias: r.tensor([20])),
            input: ActivationRange(min: input.storage.min()!, max: input.storage.max()!))
        // The block's first convolution, whose input the shortcut is: it quantizes it.
        let reader = QuantizedConvolution(
            Convolution(geometry: g2, weight: r.tensor(g2.weightShape), bias: nil),
            input: ActivationRange(min: 0, max: shortcut.storage.max()!))
        let step = reader.input.scale
        let levels = try reader.quantized(try BlockedTensor(shortcut, layout: .channelsLast))
        #expect(levels.element == .u8(scale: step))
        let dequantized = try BlockedOperations.dequantized(levels).plain()
        #expect(dequantized.storage == shortcut.storage.map { max(0, min(255, ($0 * (1 / step)).rounded(.toNearestOrEven))) * step })

        let x = try BlockedTensor(input, layout: .channelsLast)
        let sum = try first.blocked(
            x, accumulatingInto: try BlockedTensor(dequantized, layout: .channelsLast), after: .relu)
        let plainSum = try sum.plain()
        let next = QuantizedConvolution(
            Convolution(geometry: g2, weight: r.tensor(g2.weightShape), bias: nil),
            input: ActivationRange(min: 0, max: plainSum.storage.max()! * 0.8))
        let written = try first.blocked(x, accumulatingInto: levels, after: .relu, output: next.inputElement)
        #expect(written.element == next.inputElement)
        let expected = try next.blocked(sum).plain()
        #expect(try next.blocked(written).plain().maxAbsDifference(expected) <= 1e-5 * max(1, expected.maxAbs))
        #expect(
            try BlockedOperations.dequantized(written).plain().maxAbsDifference(Self.fakeQuantized(plainSum, next.input))
                <= next.input.scale * 1e-3)
        // u8 levels are added only into u8 levels, and FP32 only into FP32.
        let other = try reader.quantized(try BlockedTensor(shortcut, layout: .channelsLast))
        #expect(throws: TensorError.self) { try first.blocked(x, accumulatingInto: other, after: .relu) }
        #expect(throws: TensorError.self) {
            try first.blocked(x, accumulatingInto: other, after: .relu, output: .s8(scale: next.input.scale))
        }
    }

    /// Max pooling of u8 levels (an int8 ResNet's stem) gives the levels of the FP32 max pooling:
    /// quantizing is monotone (average pooling of levels would round: only FP32 is averaged).
    @Test func maxPoolingPoolsLevels() throws {
        var r = TestRandom(seed: 47)
        let x = Tensor(shape: [2, 20, 11, 9], storage: r.tensor([2, 20, 11, 9]).storage.map { max(0, $0) })
        let reader = QuantizedConvolution(
            Convolution(
                geometry: ConvolutionGeometry(inChannels: 20, outChannels: 4, kernel: 1, padding: .symmetric(0, 0)), weight: r.tensor([4, 20, 1, 1]),
                bias: nil),
            input: ActivationRange(min: 0, max: x.storage.max()! * 0.9))
        let fp32 = try BlockedTensor(x, layout: .channelsLast)
        let pooled = try BlockedOperations.pool(
            reader.quantized(fp32), kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false)
        #expect(pooled.element == reader.inputElement)
        let expected = try reader.quantized(
            BlockedOperations.pool(fp32, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false))
        #expect(try BlockedOperations.dequantized(pooled).plain() == BlockedOperations.dequantized(expected).plain())
    }

    @Test func channelsLastStepsMatchTheBlockedOnes() throws {
        var r = TestRandom(seed: 3)
        let x = r.tensor([2, 21, 9, 7]), y = r.tensor([2, 21, 9, 7]), gate = r.tensor([2, 21])
        let a = try BlockedTensor(x), b = try BlockedTensor(x, layout: .channelsLast)
        #expect(try b.plain() == x)
        #expect(
            try BlockedOperations.pool(a, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false).plain()
                == BlockedOperations.pool(b, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false).plain())
        #expect(
            try BlockedOperations.add(a, try BlockedTensor(y), relu: true).plain()
                == BlockedOperations.add(b, try BlockedTensor(y, layout: .channelsLast), relu: true).plain())
        #expect(try BlockedOperations.globalAveragePool(a).maxAbsDifference(BlockedOperations.globalAveragePool(b)) < 1e-6)
        BlockedOperations.gate(a, by: gate, adding: nil)
        BlockedOperations.gate(b, by: gate, adding: nil)
        #expect(try a.plain() == b.plain())
        let ma = a.channelMoments(), mb = b.channelMoments()
        #expect(ma.count == mb.count)
        for k in 0..<21 {
            #expect(abs(ma.mean[k] - mb.mean[k]) < 1e-12 && abs(ma.m2[k] - mb.m2[k]) < 1e-9 * max(1, ma.m2[k]))
        }
        // FP32 convolutions of a channels-last plan (its stem; layers kept in FP32).
        let g = ConvolutionGeometry(inChannels: 21, outChannels: 5, kernel: 3, stride: 1, dilation: 1, groups: 1, padding: .symmetric(1, 1))
        let conv = Convolution(geometry: g, weight: r.tensor(g.weightShape), bias: r.tensor([5]))
        #expect(try conv.blocked(plain: x, layout: .channelsLast).plain().maxAbsDifference(try conv(x)) < 1e-4)
    }
}
