import CNFDNNL

/// The range of values a convolution's input took over a calibration set, and the int8 scale
/// that follows from it: unsigned (u8, `x ≈ q * scale`, q in 0...255) where no value was negative,
/// else signed and symmetric (s8, q in -127...127).
public struct ActivationRange: Sendable, Hashable, Codable {
    public var min: Float
    public var max: Float

    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }

    public var isSigned: Bool { min < 0 }

    /// The step of one quantization level (1 for an all-zero range, which quantizes to 0, and
    /// for one too small for its reciprocal to be finite).
    public var scale: Float {
        let limit = isSigned ? Swift.max(-min, max) / 127 : max / 255
        return limit >= Float.leastNormalMagnitude && limit.isFinite && (1 / limit).isFinite ? limit : 1
    }
}

/// Weights quantized symmetrically per output channel: `w[o, ...] ≈ q[o, ...] * scales[o]`,
/// q in -63...63 (round half away from zero, as `Float.rounded()`).
///
/// Seven bits, not eight: on CPUs without VNNI (AVX2, and AVX-512 before Cascade Lake) oneDNN
/// sums pairs of u8 x s8 products in int16 (`vpmaddubsw`), which saturates with 8-bit weights
/// (255 x 127 x 2 > 32767; `QuantizedConvolutionTests` saw errors of several units at 22 dB), and
/// for a signed source it halves the weights itself. With q in -63...63 neither happens (255 x 63
/// x 2 = 32130), and the same weights give the same sums on every CPU. ONNX Runtime's
/// `reduce_range` makes the same trade for the same reason.
public struct QuantizedWeights: Sendable, Equatable {
    /// The largest level.
    public static let levels: Float = 63

    public let values: [Int8]
    public let scales: [Float]

    public init(_ weight: [Float], outChannels: Int) {
        precondition(outChannels > 0 && weight.count % outChannels == 0, "weights do not split into \(outChannels) channels")
        let perOutput = weight.count / outChannels
        var values = [Int8](repeating: 0, count: weight.count)
        var scales = [Float](repeating: 1, count: outChannels)
        for o in 0..<outChannels {
            let range = (o * perOutput)..<((o + 1) * perOutput)
            let largest = weight[range].reduce(Float(0)) { Swift.max($0, abs($1)) }
            let scale = largest > 0 ? largest / Self.levels : 1
            scales[o] = scale
            for i in range { values[i] = Int8(Swift.max(-Self.levels, Swift.min(Self.levels, (weight[i] / scale).rounded()))) }
        }
        self.values = values
        self.scales = scales
    }

    /// The weights these stand for (what an int8 convolution multiplies by).
    public var dequantized: [Float] {
        let perOutput = values.count / scales.count
        return values.indices.map { Float(values[$0]) * scales[$0 / perOutput] }
    }
}

/// A convolution of an int8 plan: its input quantized per tensor with a calibrated scale, its
/// weights per output channel, products summed in int32 by oneDNN, and the result back in FP32
/// with the same fused post-ops as `Convolution.blocked` (bias, activation and scale, residual
/// sum, activation after). Activations are channels-last (`PlanLayout.channelsLast`) on both
/// sides. Tested against the FP32 `Convolution` on the same input.
public final class QuantizedConvolution: Sendable {
    public let geometry: ConvolutionGeometry
    public let weights: QuantizedWeights
    public let input: ActivationRange
    let bias: [Float]?
    /// `input.scale * weights.scales[o]`: what brings the int32 sums back to FP32.
    let outputScales: [Float]
    /// The weights given to oneDNN (`weights.values`, doubled for a signed source).
    let sourceWeights: [Int8]

    private struct Key: Hashable, Sendable {
        /// 0 without a residual sum; else what multiplies the values read from the destination.
        var n: Int, h: Int, w: Int, sumScale: Float, activation: Activation, activationScale: Float, after: Activation
        var output: PlanElement
    }
    private let primitives = PrimitiveCache<Key, DNNLConvolution>(capacity: 160)
    private let quantizers = PrimitiveCache<[Int], DNNLOperation>(capacity: 80)

    public init(_ convolution: Convolution, input: ActivationRange) {
        geometry = convolution.geometry
        weights = QuantizedWeights(convolution.weight.storage, outChannels: geometry.outChannels)
        self.input = input
        // A signed source gets the weights doubled (and their scales halved), which oneDNN
        // halves back exactly where it halves them (no VNNI).
        let doubled = input.isSigned
        sourceWeights = doubled ? weights.values.map { $0 * 2 } : weights.values
        let scales = weights.scales.map { $0 * input.scale / (doubled ? 2 : 1) }
        outputScales = scales
        // oneDNN adds the bias to the int32 sums before scaling them (nf_dnnl.h).
        bias = convolution.bias.map { b in b.storage.indices.map { b.storage[$0] / scales[$0] } }
    }

    /// What it reads: u8 or s8 with its input's quantization step. A convolution before it that
    /// writes this (`blocked(_:output:)`) spares it the quantization.
    public var inputElement: PlanElement { input.isSigned ? .s8(scale: input.scale) : .u8(scale: input.scale) }

    /// `after(activation(conv(x) + bias) * activationScale [+ residual])`, as `Convolution.blocked`;
    /// `x` in FP32 or already in `inputElement`. The result is FP32, or with `output` the next
    /// convolution's `inputElement` (u8 or s8: `round(result / step)`, saturated). The residual,
    /// overwritten with the result, is FP32 for an FP32 result; for a u8 or s8 result, levels of
    /// the same type with their own step (an int8 plan's residual stream, as ONNX Runtime's
    /// QLinearAdd: both steps are applied in FP32 before the result's rounding).
    public func blocked(
        _ x: BlockedTensor, activation: Activation = .identity, activationScale: Float = 1,
        accumulatingInto residual: BlockedTensor? = nil, after: Activation = .identity, output element: PlanElement = .f32
    ) throws -> BlockedTensor {
        guard x.element == .f32 || x.element == inputElement else {
            throw TensorError("an int8 convolution reading \(inputElement) was given \(x.element)")
        }
        guard element != .bf16 else { throw TensorError("an int8 convolution writes FP32, u8 or s8; bf16 was asked") }
        if let residual {
            switch (element, residual.element) {
            case (.f32, .f32), (.u8, .u8), (.s8, .s8): break
            default: throw TensorError("an int8 convolution writing \(element) cannot add a residual in \(residual.element)")
            }
        }
        guard x.layout == .channelsLast, x.c == geometry.inChannels else {
            throw TensorError("an int8 convolution expects \(geometry.inChannels) channels, channels-last; got \(x.shape), \(x.layout)")
        }
        let (oh, ow) = geometry.outputSize(height: x.h, width: x.w)
        guard oh > 0, ow > 0 else {
            throw TensorError("input \(x.h)x\(x.w) is too small for a \(geometry.kernel.h)x\(geometry.kernel.w) convolution")
        }
        let key = Key(
            n: x.n, h: x.h, w: x.w, sumScale: residual.map { $0.element == .f32 ? 1 : $0.element.scale } ?? 0,
            activation: activation, activationScale: activationScale,
            after: after, output: element)
        let primitive = try primitives.value(for: key) {
            let made = try DNNLConvolution(
                input: (x.n, x.h, x.w), geometry: geometry, weight: [], bias: bias,
                fusedSumScale: key.sumScale, postActivation: after, layout: .channelsLast,
                activation: activation, activationScale: activationScale,
                int8: (sourceWeights, outputScales, input.isSigned), output: element)
            made.shareWeights(with: primitives.values)
            return made
        }
        let output: BlockedTensor
        if let residual {
            guard residual.shape == [x.n, geometry.outChannels, oh, ow], residual.layout == .channelsLast else {
                throw TensorError("residual \(residual.shape) does not match the convolution output \([x.n, geometry.outChannels, oh, ow])")
            }
            output = residual.element == element ? residual : BlockedTensor(viewing: residual, as: element)
        } else {
            output = BlockedTensor(n: x.n, c: geometry.outChannels, h: oh, w: ow, layout: .channelsLast, element: element)
        }
        if x.element == inputElement {
            try primitive.execute(source: x.pointer, destination: output.pointer)
            return output
        }
        // One byte per value, in a pooled buffer of floats.
        let floats = Swift.max(1, (x.n * x.c * x.h * x.w + 3) / 4)
        let quantized = BufferPool.shared.take(floats)
        defer { BufferPool.shared.give(quantized, count: floats) }
        try quantizer(x.shape, fromPlain: false).execute(x.pointer, nil, quantized)
        try primitive.execute(source: quantized, destination: output.pointer)
        return output
    }

    /// `x` (FP32, channels-last) in `inputElement`: what `blocked` would quantize, done once where
    /// other steps read it too (an int8 ResNet block's input, added by its last convolution).
    public func quantized(_ x: BlockedTensor) throws -> BlockedTensor {
        x.requireFP32()
        guard x.layout == .channelsLast, x.c == geometry.inChannels else {
            throw TensorError("an int8 convolution expects \(geometry.inChannels) channels, channels-last; got \(x.shape), \(x.layout)")
        }
        let quantized = BlockedTensor(n: x.n, c: x.c, h: x.h, w: x.w, layout: .channelsLast, element: inputElement)
        try quantizer(x.shape, fromPlain: false).execute(x.pointer, nil, quantized.pointer)
        return quantized
    }

    /// The first convolution of a plan, reading the plain `[N, C, H, W]` network input: quantized
    /// straight from NCHW to channels-last u8 or s8 (one pass), then `blocked`.
    public func blocked(
        plain x: Tensor, activation: Activation = .identity, activationScale: Float = 1, output element: PlanElement = .f32
    ) throws -> BlockedTensor {
        let (n, c, h, w) = x.nchw
        let input = BlockedTensor(n: n, c: c, h: h, w: w, layout: .channelsLast, element: inputElement)
        try x.storage.withUnsafeBufferPointer { try quantizer(x.shape, fromPlain: true).execute($0.baseAddress!, nil, input.pointer) }
        return try blocked(input, activation: activation, activationScale: activationScale, output: element)
    }

    /// FP32 (channels-last, or plain NCHW) to this convolution's input element, one per shape.
    private func quantizer(_ shape: [Int], fromPlain: Bool) throws -> DNNLOperation {
        try quantizers.value(for: shape + [fromPlain ? 1 : 0]) {
            try DNNLOperation("int8 quantization of \(shape)") { err, len in
                nf_dnnl_quantize_create(
                    Int64(shape[0]), Int64(shape[1]), Int64(shape[2]), Int64(shape[3]), 1 / input.scale, input.isSigned ? 1 : 0,
                    fromPlain ? 1 : 0, err, len)
            }
        }
    }
}
