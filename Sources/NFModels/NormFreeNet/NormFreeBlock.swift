import NFLayers
import NFTensors

/// Channel attention inside a NormFreeBlock.
enum NormFreeAttention: Sendable {
    case squeezeExcite(SqueezeExcite)
    case efficientChannel(EfficientChannelAttention)

    func callAsFunction(_ x: consuming Tensor, _ context: ForwardContext) throws -> Tensor {
        switch self {
        case let .squeezeExcite(se): return try se(x, context)
        case let .efficientChannel(eca): return eca(x, context)
        }
    }

    /// The gate `[N, C]` from the channel means `[N, C]`.
    func gate(pooled: Tensor) throws -> Tensor {
        switch self {
        case let .squeezeExcite(se): return try se.gate(pooled: pooled)
        case let .efficientChannel(eca): return eca.gate(pooled: pooled)
        }
    }

    var parameterCount: Int {
        switch self {
        case let .squeezeExcite(se): return se.parameterCount
        case let .efficientChannel(eca): return eca.parameterCount
        }
    }
}

/// timm's `NormFreeBlock.forward` (nfnet.py), a pre-activation bottleneck:
///
///     out = act1(x) * beta
///     shortcut = downsample(out) if downsample else x
///     out = conv1(out); out = conv2(act2(out)); [out = conv2b(act2b(out))]
///     [out = attn_gain * attn(out)]                 (RegNet variants)
///     out = conv3(act3(out))
///     [out = attn_gain * attn_last(out)]            (ResNet / NFNet variants)
///     [out = out * skipinit_gain]
///     return out * alpha + shortcut
struct NormFreeBlock: Sendable {
    let position: BlockPosition
    let activation: Activation
    /// The activation's gamma when applied in the activation (gamma_in_act), else 1.
    let activationScale: Float
    let beta: Float
    let alpha: Float
    let attnGain: Float
    let downsample: (poolStride: Int?, conv: Conv2d)?
    let conv1: Conv2d, conv2: Conv2d, conv2b: Conv2d?, conv3: Conv2d
    let attn: NormFreeAttention?
    let attnLast: NormFreeAttention?
    let skipinitGain: Float?
    let skipinitParameters: Int

    func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        var out = x
        activation.apply(&out, scale: activationScale * beta)
        var shortcut = x
        if let downsample {
            var pooled = out
            if let s = downsample.poolStride { pooled = avgPool2d(out, kernel: 2, stride: s, ceilMode: true, countIncludePad: false) }
            shortcut = try downsample.conv(pooled, context)
        }
        out = try conv1(out, context)
        activation.apply(&out, scale: activationScale)
        out = try conv2(out, context)
        if let conv2b {
            activation.apply(&out, scale: activationScale)
            out = try conv2b(out, context)
        }
        if let attn {
            out = try attn(out, context)
            out.scale(by: attnGain)
        }
        activation.apply(&out, scale: activationScale)
        out = try conv3(out, context)
        if let attnLast {
            out = try attnLast(out, context)
            out.scale(by: attnGain)
        }
        // The residual branch as docs/signal-propagation.md measures it: after SE x attn_gain,
        // before the skip gain and alpha.
        context.observe(.residualBranch(position), out)
        out.add(shortcut, scalingSelfBy: (skipinitGain ?? 1) * alpha)
        context.observe(.blockOutput(position), out)
        return out
    }

    var parameterCount: Int {
        [conv1, conv2, conv3].reduce(0) { $0 + $1.parameterCount } + (conv2b?.parameterCount ?? 0)
            + (downsample?.conv.parameterCount ?? 0) + (attn?.parameterCount ?? 0) + (attnLast?.parameterCount ?? 0)
            + skipinitParameters
    }
}
