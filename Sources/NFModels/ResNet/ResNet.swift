import NFLayers
import NFTensors

/// timm's `ResNet` (timm/models/resnet.py) with its state_dict names: ResNet-B/C/D stems,
/// basic and bottleneck blocks, avg-down shortcuts, ResNeXt groups; and, as an nfserve
/// extension, XBNBlock ResNets (Huang et al., CVPR 2022) where GroupNorm replaces one
/// BatchNorm per block and the stem's norm.
public struct ResNet: ImageClassifier {
    public let architecture: String
    public let config: ResNetConfig
    let stemConvs: [Conv2d]
    private(set) var stemNorms: [Normalization2d]
    private(set) var blocks: [ResNetBlock]
    let fc: Linear

    public var inputChannels: Int { config.inChans }
    public var numClasses: Int { config.numClasses }
    public var normalizationKind: NormalizationKind { config.xbn == nil ? .batchnorm : .mixed }

    public init(architecture: String, config: ResNetConfig, weights root: WeightScope) throws {
        try config.validate()
        self.architecture = architecture
        self.config = config
        let makeNorm = NormFactory(config: config)

        // Stem: one 7x7/2 conv, or three 3x3 convs (keys conv1.0, conv1.1, conv1.3, conv1.4, conv1.6).
        var convs: [Conv2d] = [], norms: [Normalization2d] = []
        let inplanes = config.stemOutChannels
        if config.deepStem {
            let w = config.stemWidth
            let chs = config.stemType.contains("tiered") ? [3 * (w / 4), w] : [w, w]
            let stem = root.scoped("conv1")
            convs.append(
                try Conv2d(
                    stem.scoped(0), geometry: .init(inChannels: config.inChans, outChannels: chs[0], kernel: 3, stride: 2, padding: .symmetric(1, 1)))
            )
            norms.append(.batch(try BatchNorm2d(stem.scoped(1), channels: chs[0])))
            convs.append(try Conv2d(stem.scoped(3), geometry: .init(inChannels: chs[0], outChannels: chs[1], kernel: 3, padding: .symmetric(1, 1))))
            norms.append(.batch(try BatchNorm2d(stem.scoped(4), channels: chs[1])))
            convs.append(try Conv2d(stem.scoped(6), geometry: .init(inChannels: chs[1], outChannels: inplanes, kernel: 3, padding: .symmetric(1, 1))))
        } else {
            convs.append(
                try Conv2d(
                    root.scoped("conv1"),
                    geometry: .init(inChannels: config.inChans, outChannels: inplanes, kernel: 7, stride: 2, padding: .symmetric(3, 3))))
        }
        norms.append(try makeNorm(root.scoped("bn1"), channels: inplanes, replaced: config.xbn != nil))
        stemConvs = convs
        stemNorms = norms

        // Stages (timm make_blocks with output_stride 32: stride 1 for the first stage, then 2).
        var blocks: [ResNetBlock] = []
        var inChannels = inplanes
        for (s, (planes, count)) in zip(config.channels, config.layers).enumerated() {
            let stage = root.scoped("layer\(s + 1)")
            let stageStride = s == 0 ? 1 : 2
            let outChannels = planes * config.block.expansion
            for b in 0..<count {
                let scope = stage.scoped(b)
                let stride = b == 0 ? stageStride : 1
                var downsample: ResNetDownsample?
                if b == 0 && (stride != 1 || inChannels != outChannels) {
                    downsample = try Self.makeDownsample(
                        scope.scoped("downsample"), config: config, inChannels: inChannels,
                        outChannels: outChannels, stride: stride)
                }
                blocks.append(
                    try Self.makeBlock(
                        scope, position: BlockPosition(index: blocks.count, stage: s, name: scope.prefix), config: config, inChannels: inChannels,
                        planes: planes, stride: stride, downsample: downsample, makeNorm: makeNorm))
                inChannels = outChannels
            }
        }
        self.blocks = blocks
        fc = try Linear(root.scoped("fc"), inFeatures: config.numFeatures, outFeatures: config.numClasses)
    }

    private static func makeDownsample(
        _ scope: WeightScope, config: ResNetConfig, inChannels: Int, outChannels: Int,
        stride: Int
    ) throws -> ResNetDownsample {
        if config.avgDown {
            let conv = try Conv2d(
                scope.scoped(1), geometry: .init(inChannels: inChannels, outChannels: outChannels, kernel: 1, padding: .symmetric(0, 0)))
            return ResNetDownsample(
                poolStride: stride == 1 ? nil : stride, conv: conv,
                norm: .batch(try BatchNorm2d(scope.scoped(2), channels: outChannels)))
        }
        let k = stride == 1 ? 1 : config.downKernelSize
        let p = ConvolutionGeometry.defaultPadding(kernel: k, stride: stride)
        let conv = try Conv2d(
            scope.scoped(0), geometry: .init(inChannels: inChannels, outChannels: outChannels, kernel: k, stride: stride, padding: .symmetric(p, p)))
        return ResNetDownsample(poolStride: nil, conv: conv, norm: .batch(try BatchNorm2d(scope.scoped(1), channels: outChannels)))
    }

    private static func makeBlock(
        _ scope: WeightScope, position: BlockPosition, config: ResNetConfig, inChannels: Int, planes: Int,
        stride: Int, downsample: ResNetDownsample?, makeNorm: NormFactory
    ) throws -> ResNetBlock {
        let outChannels = planes * config.block.expansion
        // Which norm (1-based) XBNBlock turns into GroupNorm (docs/models.md, "XBNBlock ResNets").
        let replaced: Int? =
            switch (config.xbn, config.block) {
            case (nil, _): nil
            case (.p1, _): 1
            case (.p2, .basic): 1
            case (.p2, .bottleneck): 2
            case (.p3, .basic): 2
            case (.p3, .bottleneck): 3
            }
        var convs: [Conv2d] = [], norms: [Normalization2d] = []
        switch config.block {
        case .basic:
            let first = planes / config.blockReduceFirst
            convs.append(
                try Conv2d(
                    scope.scoped("conv1"),
                    geometry: .init(inChannels: inChannels, outChannels: first, kernel: 3, stride: stride, padding: .symmetric(1, 1))))
            norms.append(try makeNorm(scope.scoped("bn1"), channels: first, replaced: replaced == 1))
            convs.append(
                try Conv2d(scope.scoped("conv2"), geometry: .init(inChannels: first, outChannels: outChannels, kernel: 3, padding: .symmetric(1, 1))))
            norms.append(try makeNorm(scope.scoped("bn2"), channels: outChannels, replaced: replaced == 2))
        case .bottleneck:
            let width = (planes * config.baseWidth / 64) * config.cardinality
            let first = width / config.blockReduceFirst
            convs.append(
                try Conv2d(scope.scoped("conv1"), geometry: .init(inChannels: inChannels, outChannels: first, kernel: 1, padding: .symmetric(0, 0))))
            norms.append(try makeNorm(scope.scoped("bn1"), channels: first, replaced: replaced == 1))
            convs.append(
                try Conv2d(
                    scope.scoped("conv2"),
                    geometry: .init(
                        inChannels: first, outChannels: width, kernel: 3, stride: stride, groups: config.cardinality, padding: .symmetric(1, 1))))
            norms.append(try makeNorm(scope.scoped("bn2"), channels: width, replaced: replaced == 2))
            convs.append(
                try Conv2d(scope.scoped("conv3"), geometry: .init(inChannels: width, outChannels: outChannels, kernel: 1, padding: .symmetric(0, 0))))
            norms.append(try makeNorm(scope.scoped("bn3"), channels: outChannels, replaced: replaced == 3))
        }
        return ResNetBlock(position: position, convs: convs, norms: norms, downsample: downsample)
    }

    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == config.inChans else {
            throw ModelBuildError("\(architecture) expects input [N, \(config.inChans), H, W], got \(input.shape)")
        }
        var x = input
        for i in stemConvs.indices {
            x = try stemNorms[i](try stemConvs[i](x, context), context, relu: true)
        }
        x = maxPool2d(x, kernel: 3, stride: 2, padding: 1)
        context.observe(.stemOutput, x)
        for block in blocks { x = try block(x, context) }
        return try fc(globalAveragePool(x), context)
    }

    public func executionPlan(precision: PlanPrecision) -> (any ExecutionPlan)? { ResNetPlan(self, precision: precision) }

    public var parameterCount: Int {
        stemConvs.reduce(0) { $0 + $1.parameterCount } + stemNorms.reduce(0) { $0 + $1.parameterCount }
            + blocks.reduce(0) { $0 + $1.parameterCount } + fc.parameterCount
    }

    /// In the order the forward pass reaches their inputs: the stem's, then per block its
    /// norms and its shortcut's (which runs after the branch).
    public var normalizationLayers: [Normalization2d] {
        var layers = stemNorms
        for block in blocks {
            layers += block.norms
            if let norm = block.downsample?.norm { layers.append(norm) }
        }
        return layers
    }

    public func replacingRunningStatistics(_ statistics: [String: RunningStatistics]) -> any ImageClassifier {
        var copy = self
        copy.stemNorms = stemNorms.map { $0.replacingRunningStatistics(statistics) }
        copy.blocks = blocks.map { $0.replacingRunningStatistics(statistics) }
        return copy
    }
}

/// Builds a block's norm: BatchNorm, or GroupNorm where the XBNBlock variant replaces it.
struct NormFactory {
    let config: ResNetConfig

    func callAsFunction(_ scope: WeightScope, channels: Int, replaced: Bool) throws -> Normalization2d {
        guard replaced else { return .batch(try BatchNorm2d(scope, channels: channels)) }
        let groups = min(config.gnGroups, channels)
        guard groups > 0, channels % groups == 0 else {
            throw ModelBuildError("\(scope.prefix): \(channels) channels do not divide into gn_groups=\(groups) GroupNorm groups")
        }
        return .group(try GroupNorm2d(scope, groups: groups, channels: channels))
    }
}
