import NFTensors

/// `nn.BatchNorm2d` in inference mode: `y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`,
/// computed as one per-channel multiply-add prepared at load. Keys `weight`, `bias`,
/// `running_mean`, `running_var` (and `num_batches_tracked`, accepted and ignored).
public struct BatchNorm2d: Sendable {
    public let name: String
    public let weight: [Float], bias: [Float], runningMean: [Float], runningVar: [Float]
    public let eps: Float
    /// weight / sqrt(running_var + eps) and bias - running_mean * that, per channel.
    public let multiplier: [Float], addend: [Float]

    public init(_ scope: WeightScope, channels: Int, eps: Float = 1e-5) throws {
        let shape = [channels]
        try self.init(
            name: scope.prefix,
            weight: scope.tensor("weight", shape: shape).storage,
            bias: scope.tensor("bias", shape: shape).storage,
            runningMean: scope.tensor("running_mean", shape: shape).storage,
            runningVar: scope.tensor("running_var", shape: shape).storage,
            eps: eps)
        scope.ignore("num_batches_tracked")
    }

    public init(name: String, weight: [Float], bias: [Float], runningMean: [Float], runningVar: [Float], eps: Float) {
        self.name = name
        self.weight = weight
        self.bias = bias
        self.runningMean = runningMean
        self.runningVar = runningVar
        self.eps = eps
        // Float arithmetic in the order PyTorch's CPU kernel prepares it (batch_norm_cpu_collect_linear_and_constant_terms).
        var mul = [Float](repeating: 0, count: weight.count), add = mul
        for c in weight.indices {
            let invStd = 1 / (runningVar[c] + eps).squareRoot()
            mul[c] = weight[c] * invStd
            add[c] = bias[c] - runningMean[c] * invStd * weight[c]
        }
        multiplier = mul
        addend = add
    }

    public var channels: Int { weight.count }
    public var parameterCount: Int { 2 * weight.count }

    /// Takes `x` by value (consuming), so the affine map runs in place without a copy. With the
    /// context's `batchStatistics` it normalizes with the batch's own mean and biased variance
    /// (training mode) instead of the running statistics.
    public func callAsFunction(_ x: consuming Tensor, _ context: ForwardContext, relu: Bool = false) throws -> Tensor {
        try context.observeNormalizationInput(name, x)
        if let statistics = context.batchStatistics {
            let (mean, variance) = statistics.channelStatistics(of: x)
            var mul = [Float](repeating: 0, count: channels), add = mul
            for c in 0..<channels {
                let invStd = 1 / (variance[c] + Double(eps)).squareRoot()
                mul[c] = Float(Double(weight[c]) * invStd)
                add[c] = Float(Double(bias[c]) - mean[c] * invStd * Double(weight[c]))
            }
            x.channelAffine(multiplier: mul, addend: add, relu: relu)
            return x
        }
        x.channelAffine(multiplier: multiplier, addend: addend, relu: relu)
        return x
    }

    /// The same layer with other running statistics (AdaBN's recalibration, and its undoing).
    public func replacingRunningStatistics(mean: [Float], variance: [Float]) -> BatchNorm2d {
        precondition(mean.count == channels && variance.count == channels, "statistics for \(channels) channels expected")
        return BatchNorm2d(name: name, weight: weight, bias: bias, runningMean: mean, runningVar: variance, eps: eps)
    }

    /// A BatchNorm as PyTorch initializes one: scale 1, shift 0, running mean 0 and variance 1.
    public static func initialized(name: String, channels: Int, eps: Float = 1e-5) -> BatchNorm2d {
        BatchNorm2d(
            name: name, weight: .init(repeating: 1, count: channels), bias: .init(repeating: 0, count: channels),
            runningMean: .init(repeating: 0, count: channels), runningVar: .init(repeating: 1, count: channels), eps: eps)
    }
}

/// `nn.GroupNorm(groups, channels, eps)`: keys `weight` and `bias` only (no running statistics,
/// which is why XBNBlock uses it: it has no estimation shift).
public struct GroupNorm2d: Sendable {
    public let name: String
    public let groups: Int
    public let weight: [Float], bias: [Float]
    public let eps: Float

    public init(_ scope: WeightScope, groups: Int, channels: Int, eps: Float = 1e-5) throws {
        name = scope.prefix
        self.groups = groups
        weight = try scope.tensor("weight", shape: [channels]).storage
        bias = try scope.tensor("bias", shape: [channels]).storage
        self.eps = eps
    }

    public var parameterCount: Int { 2 * weight.count }

    public func callAsFunction(_ x: Tensor, _ context: ForwardContext, relu: Bool = false) throws -> Tensor {
        try context.observeNormalizationInput(name, x)
        var y = groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
        if relu { Activation.relu.apply(&y) }
        return y
    }
}

/// The normalization a layer of a normalized network uses: BatchNorm, or GroupNorm where an
/// XBNBlock replaced it.
public enum Normalization2d: Sendable {
    case batch(BatchNorm2d)
    case group(GroupNorm2d)

    public var parameterCount: Int {
        switch self {
        case let .batch(bn): return bn.parameterCount
        case let .group(gn): return gn.parameterCount
        }
    }

    public var batchNorm: BatchNorm2d? {
        if case let .batch(bn) = self { return bn }
        return nil
    }

    /// The layer's key prefix ("layer1.0.bn1").
    public var name: String {
        switch self {
        case let .batch(bn): return bn.name
        case let .group(gn): return gn.name
        }
    }

    public var channels: Int {
        switch self {
        case let .batch(bn): return bn.channels
        case let .group(gn): return gn.weight.count
        }
    }

    /// A BatchNorm with the running statistics `statistics` holds under its name; a GroupNorm,
    /// or a BatchNorm not named there, unchanged.
    public func replacingRunningStatistics(_ statistics: [String: RunningStatistics]) -> Normalization2d {
        guard case let .batch(bn) = self, let new = statistics[bn.name] else { return self }
        return .batch(bn.replacingRunningStatistics(mean: new.mean, variance: new.variance))
    }

    public func callAsFunction(_ x: consuming Tensor, _ context: ForwardContext, relu: Bool = false) throws -> Tensor {
        switch self {
        case let .batch(bn): return try bn(x, context, relu: relu)
        case let .group(gn): return try gn(x, context, relu: relu)
        }
    }
}

/// A BatchNorm's running mean and variance, per channel.
public struct RunningStatistics: Sendable, Equatable {
    public var mean: [Float]
    public var variance: [Float]
    public init(mean: [Float], variance: [Float]) {
        self.mean = mean
        self.variance = variance
    }
}
