import Foundation
import NFTensors

/// timm's `SEModule` (timm/layers/squeeze_excite.py; Hu et al.): global average pool, 1x1 conv
/// (`fc1`, bias) to `reducedChannels`, ReLU, 1x1 conv (`fc2`, bias) back, sigmoid gate,
/// `x * gate`. The 1x1 convs on a 1x1 map are linear layers over `[N, C]`.
public struct SqueezeExcite: Sendable {
    public let name: String
    let fc1: FullyConnected
    let fc2: FullyConnected

    public init(_ scope: WeightScope, channels: Int, reducedChannels: Int) throws {
        name = scope.prefix
        func linear(_ key: String, _ inF: Int, _ outF: Int) throws -> FullyConnected {
            let s = scope.scoped(key)
            let w = try s.tensor("weight", shape: [outF, inF, 1, 1])
            return FullyConnected(weight: w.reshaped([outF, inF]), bias: try s.tensor("bias", shape: [outF]))
        }
        fc1 = try linear("fc1", channels, reducedChannels)
        fc2 = try linear("fc2", reducedChannels, channels)
    }

    public var parameterCount: Int { fc1.weight.count + fc1.bias!.count + fc2.weight.count + fc2.bias!.count }

    public func callAsFunction(_ x: consuming Tensor, _ context: ForwardContext) throws -> Tensor {
        let n = x.shape[0]
        context.record(flops: fc1.flops(batch: n) + fc2.flops(batch: n))
        x.multiplyChannels(by: try gate(pooled: globalAveragePool(x)))
        return x
    }

    /// The gate `[N, C]` from the channel means `[N, C]` of the activation it multiplies.
    public func gate(pooled: Tensor) throws -> Tensor {
        var hidden = try fc1(pooled)
        Activation.relu.apply(&hidden)
        var gate = try fc2(hidden)
        Activation.sigmoid.apply(&gate)
        return gate
    }
}

/// timm's `EcaModule` (timm/layers/eca.py; Wang et al., ECA-Net): global average pool, a 1-D
/// convolution across channels (`conv.weight` [1, 1, k], no bias, zero padding (k-1)/2),
/// sigmoid gate, `x * gate`. k follows the channel count: t = int(|log2(C) + 1| / 2), k = max(t
/// rounded up to odd, 3).
public struct EfficientChannelAttention: Sendable {
    public let name: String
    let kernel: [Float]

    public static func kernelSize(channels: Int) -> Int {
        let t = Int(abs(log2(Double(channels)) + 1) / 2)
        return max(t % 2 == 1 ? t : t + 1, 3)
    }

    public init(_ scope: WeightScope, channels: Int) throws {
        name = scope.prefix
        let k = Self.kernelSize(channels: channels)
        kernel = try scope.scoped("conv").tensor("weight", shape: [1, 1, k]).storage
    }

    public var parameterCount: Int { kernel.count }

    public func callAsFunction(_ x: consuming Tensor, _ context: ForwardContext) -> Tensor {
        x.multiplyChannels(by: gate(pooled: globalAveragePool(x)))
        return x
    }

    /// The gate `[N, C]` from the channel means `[N, C]` of the activation it multiplies.
    public func gate(pooled: Tensor) -> Tensor {
        let n = pooled.shape[0], c = pooled.shape[1]
        let k = kernel.count, pad = (k - 1) / 2
        var gate = Tensor(shape: [n, c])
        for b in 0..<n {
            for ch in 0..<c {
                var acc: Float = 0
                for j in 0..<k {
                    let src = ch + j - pad
                    if src >= 0 && src < c { acc += kernel[j] * pooled.storage[b * c + src] }
                }
                gate.storage[b * c + ch] = acc
            }
        }
        Activation.sigmoid.apply(&gate)
        return gate
    }
}
