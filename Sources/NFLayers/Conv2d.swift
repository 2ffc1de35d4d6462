import NFTensors

/// `nn.Conv2d` with frozen weights: keys `weight` (OIHW) and, when `bias`, `bias`.
public struct Conv2d: Sendable {
    public let name: String
    public let convolution: Convolution

    public init(_ scope: WeightScope, geometry: ConvolutionGeometry, bias: Bool = false) throws {
        name = scope.prefix
        try geometry.validate()
        let weight = try scope.tensor("weight", shape: geometry.weightShape)
        let b = bias ? try scope.tensor("bias", shape: [geometry.outChannels]) : nil
        convolution = Convolution(geometry: geometry, weight: weight, bias: b)
        parameterCount = weight.count + (b?.count ?? 0)
    }

    /// A convolution whose weights were computed at load (a standardized or folded conv);
    /// `parameterCount` counts the checkpoint's parameters it was made from.
    public init(name: String, convolution: Convolution, parameterCount: Int? = nil) {
        self.name = name
        self.convolution = convolution
        self.parameterCount = parameterCount ?? convolution.weight.count + (convolution.bias?.count ?? 0)
    }

    public var geometry: ConvolutionGeometry { convolution.geometry }
    /// Parameters as timm counts them (`sum(p.numel() for p in model.parameters())`).
    public let parameterCount: Int

    /// `[N, C_in, H, W] -> [N, C_out, OH, OW]`, optionally `+ residual` and ReLU, fused.
    public func callAsFunction(
        _ x: Tensor, _ context: ForwardContext, residual: Tensor? = nil,
        relu: Bool = false
    ) throws -> Tensor {
        context.record(flops: convolution.flops(batch: x.shape[0], height: x.shape[2], width: x.shape[3]))
        let y = try convolution(x, residual: residual, relu: relu)
        context.record(activation: y.count)
        return y
    }
}

/// `nn.Linear` with frozen weights: keys `weight` `[out, in]` and `bias` `[out]`.
public struct Linear: Sendable {
    public let name: String
    public let layer: FullyConnected

    public init(_ scope: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        name = scope.prefix
        let weight = try scope.tensor("weight", shape: [outFeatures, inFeatures])
        let b = bias ? try scope.tensor("bias", shape: [outFeatures]) : nil
        layer = FullyConnected(weight: weight, bias: b)
    }

    public var parameterCount: Int { layer.weight.count + (layer.bias?.count ?? 0) }

    public func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        context.record(flops: layer.flops(batch: x.shape[0]))
        return try layer(x)
    }
}
