/// A convolution with frozen weights, executed by oneDNN.
///
/// Holds the OIHW weights once (never copied per forward); for every distinct input shape it
/// builds a oneDNN primitive with the weights reordered to oneDNN's preferred blocked layout,
/// and reuses it. `referenceConvolution` is the plain implementation it is tested against.
public final class Convolution: Sendable {
    public let geometry: ConvolutionGeometry
    public let weight: Tensor
    public let bias: Tensor?

    private struct Key: Hashable, Sendable {
        var n: Int, h: Int, w: Int, sumScale: Float, after: Activation
        var layout = DNNLConvolution.Layout.plain
        var activation = Activation.identity
        var activationScale: Float = 1
    }
    /// Room for a plan's two variants (fused; observed) at every batch size dynamic batching
    /// may run (1...64), and the layer path. The primitives of one layer share one reordered copy
    /// of its weights, so a new batch size costs its JIT code, not the weights again.
    private let primitives = PrimitiveCache<Key, DNNLConvolution>(capacity: 160)

    public init(geometry: ConvolutionGeometry, weight: Tensor, bias: Tensor?) {
        precondition(
            weight.shape == geometry.weightShape,
            "weight \(weight.shape) does not match the geometry's \(geometry.weightShape)")
        precondition(bias == nil || bias!.shape == [geometry.outChannels], "bias must be [\(geometry.outChannels)]")
        self.geometry = geometry
        self.weight = weight
        self.bias = bias
    }

    /// `[N, C_in, H, W] -> [N, C_out, OH, OW]`. With `residual` (same shape as the output) the
    /// result is `conv(x) + residual`; with `relu` a ReLU follows; both fused into the primitive.
    public func callAsFunction(_ input: Tensor, residual: Tensor? = nil, relu: Bool = false) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == geometry.inChannels else {
            throw TensorError("convolution expects [N, \(geometry.inChannels), H, W], got \(input.shape)")
        }
        let (n, _, h, w) = input.nchw
        let (oh, ow) = geometry.outputSize(height: h, width: w)
        guard oh > 0, ow > 0 else {
            throw TensorError("input \(h)x\(w) is too small for a \(geometry.kernel.h)x\(geometry.kernel.w) convolution")
        }
        let key = Key(n: n, h: h, w: w, sumScale: residual == nil ? 0 : 1, after: relu ? .relu : .identity)
        let primitive = try primitives.value(for: key) {
            let made = try DNNLConvolution(
                input: (n, h, w), geometry: geometry, weight: weight.storage, bias: bias?.storage,
                fusedSumScale: key.sumScale, postActivation: key.after)
            made.shareWeights(with: primitives.values)
            return made
        }
        let outShape = [n, geometry.outChannels, oh, ow]
        guard var output = residual else {
            // oneDNN writes every element: no need to zero the buffer first.
            return try input.storage.withUnsafeBufferPointer { src in
                try Tensor(shape: outShape) { dst in try primitive.execute(source: src.baseAddress!, destination: dst.baseAddress!) }
            }
        }
        guard output.shape == outShape else {
            throw TensorError("residual \(output.shape) does not match the convolution output \(outShape)")
        }
        try input.storage.withUnsafeBufferPointer { src in
            try output.storage.withUnsafeMutableBufferPointer { dst in
                try primitive.execute(source: src.baseAddress!, destination: dst.baseAddress!)
            }
        }
        return output
    }

    /// The convolution inside an execution plan: blocked output, from a blocked input or (the
    /// first one) the plain network input. `activation(conv(x) + bias) * activationScale` is
    /// fused, then, with `accumulatingInto`, the sum with that tensor (written in place, and
    /// returned), then the activation `after`.
    public func blocked(
        _ input: BlockedTensor, activation: Activation = .identity, activationScale: Float = 1,
        accumulatingInto residual: BlockedTensor? = nil, after: Activation = .identity
    ) throws -> BlockedTensor {
        guard input.element == .f32 else { throw TensorError("an FP32 convolution was given \(input.element)") }
        return try blocked(
            n: input.n, c: input.c, h: input.h, w: input.w, source: input.pointer,
            layout: input.layout == .channelsLast ? .channelsLast : .blocked,
            activation: activation, activationScale: activationScale, residual: residual, after: after)
    }

    /// The first convolution of a plan, reading the plain `[N, C, H, W]` input. A channels-last
    /// plan reorders the input first (oneDNN 2.6 has no JIT kernel from NCHW to nhwc).
    public func blocked(
        plain input: Tensor, activation: Activation = .identity, activationScale: Float = 1,
        layout: PlanLayout = .blocked
    ) throws -> BlockedTensor {
        if layout == .channelsLast {
            return try blocked(BlockedTensor(input, layout: .channelsLast), activation: activation, activationScale: activationScale)
        }
        let (n, c, h, w) = input.nchw
        return try input.storage.withUnsafeBufferPointer { src in
            try blocked(
                n: n, c: c, h: h, w: w, source: src.baseAddress!, layout: .plainToBlocked,
                activation: activation, activationScale: activationScale, residual: nil, after: .identity)
        }
    }

    private func blocked(
        n: Int, c: Int, h: Int, w: Int, source: UnsafePointer<Float>, layout: DNNLConvolution.Layout,
        activation: Activation, activationScale: Float, residual: BlockedTensor?,
        after: Activation
    ) throws -> BlockedTensor {
        guard c == geometry.inChannels else {
            throw TensorError("convolution expects \(geometry.inChannels) channels, got \(c)")
        }
        let (oh, ow) = geometry.outputSize(height: h, width: w)
        guard oh > 0, ow > 0 else {
            throw TensorError("input \(h)x\(w) is too small for a \(geometry.kernel.h)x\(geometry.kernel.w) convolution")
        }
        let key = Key(
            n: n, h: h, w: w, sumScale: residual == nil ? 0 : 1, after: after, layout: layout,
            activation: activation, activationScale: activationScale)
        let primitive = try primitives.value(for: key) {
            let made = try DNNLConvolution(
                input: (n, h, w), geometry: geometry, weight: weight.storage,
                bias: bias?.storage, fusedSumScale: key.sumScale, postActivation: after,
                layout: layout, activation: activation, activationScale: activationScale)
            made.shareWeights(with: primitives.values)
            return made
        }
        let output: BlockedTensor
        if let residual {
            guard residual.shape == [n, geometry.outChannels, oh, ow], (residual.layout == .channelsLast) == (layout == .channelsLast) else {
                throw TensorError("residual \(residual.shape) does not match the convolution output \([n, geometry.outChannels, oh, ow])")
            }
            output = residual
        } else {
            output = BlockedTensor(
                n: n, c: geometry.outChannels, h: oh, w: ow, layout: layout == .channelsLast ? .channelsLast : .blocked)
        }
        try primitive.execute(source: source, destination: output.pointer)
        return output
    }

    /// Floating-point operations (2 per multiply-accumulate) for an input of this shape.
    public func flops(batch: Int, height: Int, width: Int) -> Int {
        let (oh, ow) = geometry.outputSize(height: height, width: width)
        return 2 * batch * geometry.outChannels * oh * ow * geometry.macsPerOutput
    }
}

/// A fully connected layer with frozen weights `[out, in]`, executed by oneDNN.
public final class FullyConnected: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    private let primitives = PrimitiveCache<Int, DNNLLinear>()

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "linear weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "bias must be [\(weight.shape[0])]")
        self.weight = weight
        self.bias = bias
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// `[N, in] -> [N, out]`.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        guard input.rank == 2, input.shape[1] == inFeatures else {
            throw TensorError("linear layer expects [N, \(inFeatures)], got \(input.shape)")
        }
        let n = input.shape[0]
        let primitive = try primitives.value(for: n) {
            try DNNLLinear(
                batch: n, weight: weight.storage, inFeatures: inFeatures, outFeatures: outFeatures,
                bias: bias?.storage)
        }
        var output = Tensor(shape: [n, outFeatures])
        try input.storage.withUnsafeBufferPointer { src in
            try output.storage.withUnsafeMutableBufferPointer { dst in
                try primitive.execute(source: src.baseAddress!, destination: dst.baseAddress!)
            }
        }
        return output
    }

    public func flops(batch: Int) -> Int { 2 * batch * inFeatures * outFeatures }
}
