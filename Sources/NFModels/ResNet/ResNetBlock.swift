import NFLayers
import NFTensors

/// The shortcut projection of a stage's first block: `downsample_conv` (strided conv + norm) or,
/// with avg_down, `downsample_avg` (2x2 average pool, ceil_mode, count_include_pad=False, then a
/// 1x1 conv + norm; the pool is nn.Identity when the stride is 1, and has no key).
struct ResNetDownsample: Sendable {
    let poolStride: Int?
    let conv: Conv2d
    var norm: Normalization2d

    func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        var y = x
        if let s = poolStride { y = avgPool2d(y, kernel: 2, stride: s, ceilMode: true, countIncludePad: false) }
        return try norm(try conv(y, context), context)
    }
}

/// timm's `BasicBlock` (conv3x3-norm-relu-conv3x3-norm) or `Bottleneck`
/// (conv1x1-norm-relu-conv3x3-norm-relu-conv1x1-norm), post-activation: ReLU after the add.
struct ResNetBlock: Sendable {
    let position: BlockPosition
    let convs: [Conv2d]
    var norms: [Normalization2d]
    var downsample: ResNetDownsample?

    func replacingRunningStatistics(_ statistics: [String: RunningStatistics]) -> ResNetBlock {
        var copy = self
        copy.norms = norms.map { $0.replacingRunningStatistics(statistics) }
        if let norm = downsample?.norm { copy.downsample?.norm = norm.replacingRunningStatistics(statistics) }
        return copy
    }

    func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        var y = x
        for i in convs.indices {
            y = try norms[i](try convs[i](y, context), context, relu: i < convs.count - 1)
        }
        context.observe(.residualBranch(position), y)
        let shortcut = try downsample?(x, context) ?? x
        guard let observer = context.observer else {
            y.add(shortcut, relu: true)
            return y
        }
        y.add(shortcut)
        observer.observe(.blockOutput(position), y)
        Activation.relu.apply(&y)
        return y
    }

    var parameterCount: Int {
        convs.reduce(0) { $0 + $1.parameterCount } + norms.reduce(0) { $0 + $1.parameterCount }
            + (downsample.map { $0.conv.parameterCount + $0.norm.parameterCount } ?? 0)
    }
}
