import CNFDNNL

/// A convolution of a bf16 plan: its input and its weights rounded to bf16 (8 significant bits,
/// FP32's exponent; round to nearest even, oneDNN's reorder), the products summed in FP32 by
/// oneDNN's bf16 kernels, and the result in FP32 with the same fused post-ops as
/// `Convolution.blocked` (bias, activation and scale, residual sum, activation after).
/// Activations stay FP32 in the plan's layout between steps; only what a convolution reads is
/// rounded. Tested against the FP32 `Convolution` on the same input, and against a plain
/// reference of the same rounding.
public final class BFloat16Convolution: Sendable {
    public let geometry: ConvolutionGeometry
    /// The FP32 layer, whose weights each new primitive rounds to bf16 (and shares between batch
    /// sizes).
    let convolution: Convolution

    private struct Key: Hashable, Sendable {
        var n: Int, h: Int, w: Int, layout: PlanLayout, sum: Bool, activation: Activation, activationScale: Float,
            after: Activation, output: PlanElement
    }
    private let primitives = PrimitiveCache<Key, DNNLConvolution>(capacity: 160)
    private let roundings = PrimitiveCache<[Int32], DNNLOperation>(capacity: 80)

    public init(_ convolution: Convolution) {
        geometry = convolution.geometry
        self.convolution = convolution
    }

    /// Whether oneDNN has a bf16 convolution on this CPU (it needs AVX-512: native with
    /// AVX512_BF16, emulated on other AVX-512 CPUs; on AVX2 oneDNN 2.6 has none, not even a
    /// reference one). Checked once, by making a small one.
    public static let isAvailable: Bool = {
        let geometry = ConvolutionGeometry(inChannels: 16, outChannels: 16, kernel: 3, padding: .symmetric(1, 1))
        let weight = [Float](repeating: 0.5, count: geometry.weightShape.reduce(1, *))
        return
            (try? DNNLConvolution(
                input: (1, 8, 8), geometry: geometry, weight: weight, bias: nil, fusedSumScale: 0,
                postActivation: .identity, layout: .blocked, bf16: true)) != nil
    }()

    /// `after(activation(conv(x) + bias) * activationScale [+ residual])`, as `Convolution.blocked`;
    /// `x` in FP32 or already bf16. The result is FP32, or with `output: .bf16` rounded for the next
    /// bf16 convolution (no residual).
    public func blocked(
        _ x: BlockedTensor, activation: Activation = .identity, activationScale: Float = 1,
        accumulatingInto residual: BlockedTensor? = nil, after: Activation = .identity, output element: PlanElement = .f32
    ) throws -> BlockedTensor {
        guard x.element == .f32 || x.element == .bf16 else { throw TensorError("a bf16 convolution was given \(x.element)") }
        guard element == .f32 || (element == .bf16 && residual == nil) else {
            throw TensorError("a bf16 convolution writes FP32, or bf16 without a residual sum; \(element) was asked")
        }
        guard x.c == geometry.inChannels else {
            throw TensorError("convolution expects \(geometry.inChannels) channels, got \(x.c)")
        }
        let (oh, ow) = geometry.outputSize(height: x.h, width: x.w)
        guard oh > 0, ow > 0 else {
            throw TensorError("input \(x.h)x\(x.w) is too small for a \(geometry.kernel.h)x\(geometry.kernel.w) convolution")
        }
        let key = Key(
            n: x.n, h: x.h, w: x.w, layout: x.layout, sum: residual != nil, activation: activation,
            activationScale: activationScale, after: after, output: element)
        let primitive = try primitives.value(for: key) {
            let made = try DNNLConvolution(
                input: (x.n, x.h, x.w), geometry: geometry, weight: convolution.weight.storage,
                bias: convolution.bias?.storage, fusedSumScale: key.sum ? 1 : 0, postActivation: after,
                layout: x.layout == .channelsLast ? .channelsLast : .blocked, activation: activation,
                activationScale: activationScale, bf16: true, output: element)
            made.shareWeights(with: primitives.values)
            return made
        }
        let output: BlockedTensor
        if let residual {
            guard residual.shape == [x.n, geometry.outChannels, oh, ow], residual.layout == x.layout else {
                throw TensorError("residual \(residual.shape) does not match the convolution output \([x.n, geometry.outChannels, oh, ow])")
            }
            output = residual
        } else {
            output = BlockedTensor(n: x.n, c: geometry.outChannels, h: oh, w: ow, layout: x.layout, element: element)
        }
        if x.element == .bf16 {
            try primitive.execute(source: x.pointer, destination: output.pointer)
            return output
        }
        let rounding = try roundings.value(for: [x.layout.rawValue] + x.shape.map(Int32.init)) {
            try DNNLOperation("bf16 rounding of \(x.shape)") { err, len in
                nf_dnnl_to_bf16_create(x.layout.rawValue, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), err, len)
            }
        }
        // Two bytes per value (padding included), in a pooled buffer of floats.
        let floats = Swift.max(1, (x.count + 1) / 2)
        let rounded = BufferPool.shared.take(floats)
        defer { BufferPool.shared.give(rounded, count: floats) }
        try rounding.execute(x.pointer, nil, rounded)
        try primitive.execute(source: rounded, destination: output.pointer)
        return output
    }
}

/// `x` rounded to the nearest bf16 (ties to even), as oneDNN rounds: the plain reference of what
/// a bf16 convolution reads. NaN stays NaN.
public func roundedToBFloat16(_ x: Float) -> Float {
    guard !x.isNaN else { return x }
    let bits = x.bitPattern
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return Float(bitPattern: rounded & 0xFFFF_0000)
}
