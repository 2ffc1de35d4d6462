import CNFDNNL

/// The steps of an execution plan between its convolutions, over `BlockedTensor`s. Each keeps
/// one oneDNN primitive per input shape. Their plain counterparts (`maxPool2d`, `avgPool2d`,
/// `Activation.apply`, `BatchNorm2d`, `Tensor.add`, `multiplyChannels`) are what the layers run
/// and what the plans are tested against.
public enum BlockedOperations {
    private struct Key: Hashable, Sendable {
        var kind: Int, n: Int, c: Int, h: Int, w: Int, a: Int, b: Int, cc: Int, d: Int, e: Int
        var layout = PlanLayout.blocked
        var element: Int32 = 0
    }
    private static let cache = PrimitiveCache<Key, DNNLOperation>(capacity: 4096)

    /// `maxPool2d` (padding -inf) or `avgPool2d` without counting padding (ceil mode by the
    /// extra right/bottom padding, which average pooling then excludes, as ATen does). Max pooling
    /// also takes an int8 plan's u8 or s8 levels (into the same element: the maximum of the levels
    /// is the level of the maximum).
    public static func pool(
        _ x: BlockedTensor, kernel: Int, stride: Int, padding: Int, ceilMode: Bool,
        average: Bool
    ) throws -> BlockedTensor {
        if average || x.element == .bf16 { x.requireFP32() }
        let oh = poolingOutputSize(x.h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
        let ow = poolingOutputSize(x.w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
        // The far padding that makes oneDNN's floor formula give the (ceil-mode) output size.
        let bottom = (oh - 1) * stride + kernel - x.h - padding, right = (ow - 1) * stride + kernel - x.w - padding
        let key = Key(
            kind: average ? 1 : 0, n: x.n, c: x.c, h: x.h, w: x.w, a: kernel, b: stride, cc: padding,
            d: bottom, e: right, layout: x.layout, element: Int32(x.element.sourceType.rawValue))
        let op = try cache.value(for: key) {
            try DNNLOperation("pooling on \(x.shape)") { err, len in
                nf_dnnl_pool_create(
                    x.layout.rawValue, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), Int64(kernel), Int64(stride),
                    Int64(padding), Int64(padding), Int64(max(bottom, 0)), Int64(max(right, 0)),
                    average ? 1 : 0, Int32(x.element.sourceType.rawValue), err, len)
            }
        }
        let y = BlockedTensor(n: x.n, c: x.c, h: oh, w: ow, layout: x.layout, element: x.element)
        try op.execute(x.pointer, nil, y.pointer)
        return y
    }

    /// `activation(x)` into a new tensor (`x` is kept: a pre-activation block still needs it).
    public static func activation(_ activation: Activation, _ x: BlockedTensor, inPlace: Bool = false) throws -> BlockedTensor {
        x.requireFP32()
        if activation == .identity { return x }
        let key = Key(kind: 2, n: x.n, c: x.c, h: x.h, w: x.w, a: Int(activation.dnnlCode), b: 0, cc: 0, d: 0, e: 0, layout: x.layout)
        let op = try cache.value(for: key) {
            try DNNLOperation("\(activation) on \(x.shape)") { err, len in
                nf_dnnl_eltwise_create(x.layout.rawValue, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), activation.dnnlCode, err, len)
            }
        }
        let y = inPlace ? x : BlockedTensor(n: x.n, c: x.c, h: x.h, w: x.w, layout: x.layout)
        try op.execute(x.pointer, nil, y.pointer)
        return y
    }

    /// `x + y` (same shape), optionally followed by ReLU, into a new tensor (oneDNN 2.6's binary
    /// primitive run in place skipped its ReLU post-op: `BlockedOperationsTests` caught it).
    public static func add(_ x: BlockedTensor, _ y: BlockedTensor, relu: Bool) throws -> BlockedTensor {
        precondition(x.shape == y.shape && x.layout == y.layout, "cannot add \(y.shape) to \(x.shape)")
        x.requireFP32()
        y.requireFP32()
        let key = Key(kind: 3, n: x.n, c: x.c, h: x.h, w: x.w, a: relu ? 1 : 0, b: 0, cc: 0, d: 0, e: 0, layout: x.layout)
        let op = try cache.value(for: key) {
            try DNNLOperation("add on \(x.shape)") { err, len in
                nf_dnnl_add_create(x.layout.rawValue, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), relu ? 1 : 0, err, len)
            }
        }
        let z = BlockedTensor(n: x.n, c: x.c, h: x.h, w: x.w, layout: x.layout)
        try op.execute(x.pointer, y.pointer, z.pointer)
        return z
    }

    /// u8 or s8 levels (channels-last, an int8 plan's) back to FP32: `level * step` (FP32 as is).
    public static func dequantized(_ x: BlockedTensor) throws -> BlockedTensor {
        let signed: Bool
        switch x.element {
        case .f32: return x
        case .bf16: throw TensorError("bf16 activations are read by their convolution only")
        case .u8: signed = false
        case .s8: signed = true
        }
        precondition(x.layout == .channelsLast, "int8 activations are channels-last")
        let step = x.element.scale
        let key = Key(
            kind: 5, n: x.n, c: x.c, h: x.h, w: x.w, a: Int(step.bitPattern), b: signed ? 1 : 0, cc: 0, d: 0, e: 0,
            layout: x.layout)
        let op = try cache.value(for: key) {
            try DNNLOperation("int8 dequantization of \(x.shape)") { err, len in
                nf_dnnl_dequantize_create(Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), step, signed ? 1 : 0, err, len)
            }
        }
        let y = BlockedTensor(n: x.n, c: x.c, h: x.h, w: x.w, layout: x.layout)
        try op.execute(x.pointer, nil, y.pointer)
        return y
    }

    /// Channel means `[N, C]` (plain), as `globalAveragePool`.
    public static func globalAveragePool(_ x: BlockedTensor) throws -> Tensor {
        x.requireFP32()
        let pooled: BlockedTensor
        if x.h == 1 && x.w == 1 {
            pooled = x
        } else {
            let key = Key(kind: 4, n: x.n, c: x.c, h: x.h, w: x.w, a: 0, b: 0, cc: 0, d: 0, e: 0, layout: x.layout)
            let op = try cache.value(for: key) {
                try DNNLOperation("global pooling on \(x.shape)") { err, len in
                    // One window over the whole plane: a kernel of h x w is not square in general,
                    // so pool with the larger side and pad the other (excluded from the average).
                    let k = max(x.h, x.w)
                    return nf_dnnl_pool_create(
                        x.layout.rawValue, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), Int64(k), Int64(k),
                        0, 0, Int64(k - x.h), Int64(k - x.w), 1, Int32(NF_SOURCE_F32.rawValue), err, len)
                }
            }
            pooled = BlockedTensor(n: x.n, c: x.c, h: 1, w: 1, layout: x.layout)
            try op.execute(x.pointer, nil, pooled.pointer)
        }
        return try pooled.plain().reshaped([x.n, x.c])
    }

    /// `x[n, c] *= gate[n, c]`, and `+= add` when given: channel attention, and the residual add
    /// after it.
    public static func gate(_ x: BlockedTensor, by gate: Tensor, adding add: BlockedTensor?) {
        precondition(gate.count == x.n * x.c, "gate \(gate.shape) does not fit \(x.shape)")
        x.requireFP32()
        add?.requireFP32()
        precondition(add == nil || (add!.shape == x.shape && add!.layout == x.layout), "residual \(add!.shape) does not fit \(x.shape)")
        gate.storage.withUnsafeBufferPointer { g in
            nf_blocked_gate(x.layout.rawValue, x.pointer, g.baseAddress, add?.pointer, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w))
        }
    }
}

/// Inference BatchNorm kept apart from its convolution (where a diagnostic observes its input),
/// over the blocked layout; one primitive per shape.
public final class BlockedBatchNorm: Sendable {
    let mean: [Float], variance: [Float], scale: [Float], shift: [Float], eps: Float
    private let primitives = PrimitiveCache<[Int], DNNLOperation>(capacity: 16)

    public init(mean: [Float], variance: [Float], scale: [Float], shift: [Float], eps: Float) {
        self.mean = mean
        self.variance = variance
        self.scale = scale
        self.shift = shift
        self.eps = eps
    }

    /// Normalizes `x` in place, then ReLU when asked.
    public func callAsFunction(_ x: BlockedTensor, relu: Bool) throws -> BlockedTensor {
        x.requireFP32()
        let op = try primitives.value(for: x.shape + [relu ? 1 : 0, Int(x.layout.rawValue)]) {
            try DNNLOperation("batchnorm on \(x.shape)") { err, len in
                nf_dnnl_batchnorm_create(
                    x.layout.rawValue, Int64(x.n), Int64(x.c), Int64(x.h), Int64(x.w), mean, variance, scale, shift,
                    eps, relu ? 1 : 0, err, len)
            }
        }
        try op.execute(x.pointer, nil, x.pointer)
        return x
    }
}

extension Activation {
    /// The shim's code for this activation (`enum nf_activation`).
    var dnnlCode: Int32 {
        switch self {
        case .identity: return Int32(NF_ACT_NONE.rawValue)
        case .relu: return Int32(NF_ACT_RELU.rawValue)
        case .gelu: return Int32(NF_ACT_GELU.rawValue)
        case .silu: return Int32(NF_ACT_SILU.rawValue)
        case .sigmoid: return Int32(NF_ACT_SIGMOID.rawValue)
        case .tanh: return Int32(NF_ACT_TANH.rawValue)
        }
    }
}

extension BlockedTensor {
    /// Only a convolution reads what another wrote in its input format (`PlanElement`); a plan
    /// that hands such a tensor to any other step is wrong, whatever the request.
    func requireFP32() {
        precondition(element == .f32, "a plan step other than a convolution was given a \(element) activation")
    }
}
