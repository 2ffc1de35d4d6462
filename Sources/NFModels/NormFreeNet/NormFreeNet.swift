import Foundation
import NFLayers
import NFTensors

/// timm's `NormFreeNet` (timm/models/nfnet.py): NF-ResNets (Brock, De & Smith 2021) and NFNets
/// (Brock et al. 2021), with Scaled Weight Standardization on every conv, alpha/beta residual
/// scaling and no normalization layer. Keys `stem.*`, `stages.S.B.*`, `final_conv.*`, `head.fc.*`.
public struct NormFreeNet: ImageClassifier {
    public let architecture: String
    public let config: NormFreeConfig
    let stemConvs: [Conv2d]
    let stemPool: Bool
    let blocks: [NormFreeBlock]
    let finalConv: Conv2d?
    let activation: Activation
    let activationScale: Float
    let fc: Linear
    /// timm's expected variance at each block's input (the beta bookkeeping: beta = 1/sqrt of it).
    public let expectedVariances: [Double]
    /// The same bookkeeping's expected variance at each block's output, which the SPP plots
    /// beside the measured variance (the stem's output is expected at 1).
    public let expectedOutputVariances: [Double]

    public var inputChannels: Int { config.inChans }
    public var numClasses: Int { config.numClasses }
    public var normalizationKind: NormalizationKind { .normalizerFree }
    public var normalizationLayers: [Normalization2d] { [] }
    public func replacingRunningStatistics(_ statistics: [String: RunningStatistics]) -> any ImageClassifier { self }

    public init(architecture: String, config cfg: NormFreeConfig, weights root: WeightScope) throws {
        try cfg.validate()
        self.architecture = architecture
        config = cfg
        let gamma = Float(NormFreeConfig.activationGamma[cfg.actLayer]!)
        activation = Activation(rawValue: cfg.actLayer)!
        // gamma_in_act: gamma multiplies each activation; otherwise it is folded into every conv.
        activationScale = cfg.gammaInAct ? gamma : 1
        let convGamma: Float = cfg.gammaInAct ? 1 : gamma
        let eps = Float(cfg.stdConvEps)
        func conv(_ scope: WeightScope, _ inC: Int, _ outC: Int, _ k: Int, stride: Int = 1, groups: Int = 1) throws -> Conv2d {
            // ScaledStdConv2d pads like nn.Conv2d (timm get_padding); the Same variant pads TF-"SAME".
            let padding: ConvolutionPadding =
                cfg.samePadding
                ? .tfSame
                : .symmetric(
                    ConvolutionGeometry.defaultPadding(kernel: k, stride: stride), ConvolutionGeometry.defaultPadding(kernel: k, stride: stride))
            return try ScaledStdConv2d.load(
                scope, geometry: ConvolutionGeometry(inChannels: inC, outChannels: outC, kernel: k, stride: stride, groups: groups, padding: padding),
                gamma: convGamma, eps: eps)
        }

        // Stem (timm create_stem).
        let stemChs = makeDivisible(Double(cfg.stemChs ?? cfg.channels[0]) * cfg.widthFactor, cfg.chDiv)
        let stem = root.scoped("stem")
        var stemConvs: [Conv2d] = []
        var stemStride = 2
        if cfg.stemType.contains("deep") {
            let chs: [Int], strides: [Int]
            if cfg.stemType.contains("quad") {
                chs = [stemChs / 8, stemChs / 4, stemChs / 2, stemChs]
                strides = [2, 1, 1, 2]
                stemStride = 4
            } else {
                chs = cfg.stemType.contains("tiered") ? [3 * stemChs / 8, stemChs / 2, stemChs] : [stemChs / 2, stemChs / 2, stemChs]
                strides = [2, 1, 1]
            }
            var inC = cfg.inChans
            for (i, (c, s)) in zip(chs, strides).enumerated() {
                stemConvs.append(try conv(stem.scoped("conv\(i + 1)"), inC, c, 3, stride: s))
                inC = c
            }
        } else {
            stemConvs.append(try conv(stem.scoped("conv"), cfg.inChans, stemChs, cfg.stemType.contains("3x3") ? 3 : 7, stride: 2))
        }
        stemPool = cfg.stemType.contains("pool")
        if stemPool { stemStride = 4 }
        self.stemConvs = stemConvs

        // Stages, with timm's expected-variance bookkeeping for beta.
        let attnKind = cfg.attnLayer
        let rdRatio = cfg.attnKwargs["rd_ratio"]?.doubleValue ?? 1.0 / 16
        let rdDivisor = cfg.attnKwargs["rd_divisor"]?.intValue ?? 8
        func attention(_ scope: WeightScope, channels: Int) throws -> NormFreeAttention? {
            switch attnKind {
            case "se":
                let rd = makeDivisible(Double(channels) * rdRatio, rdDivisor, roundLimit: 0)
                return .squeezeExcite(try SqueezeExcite(scope, channels: channels, reducedChannels: rd))
            case "eca":
                return .efficientChannel(try EfficientChannelAttention(scope, channels: channels))
            default:
                return nil
            }
        }
        var blocks: [NormFreeBlock] = []
        var expected: [Double] = [], expectedOutputs: [Double] = []
        var prevChs = stemChs
        var expectedVar = 1.0
        for (s, depth) in cfg.depths.enumerated() {
            let stride = s == 0 && stemStride > 2 ? 1 : 2
            let outChs = makeDivisible(Double(cfg.channels[s]) * cfg.widthFactor, cfg.chDiv)
            for b in 0..<depth {
                let scope = root.scoped("stages").scoped(s).scoped(b)
                let firstBlock = s == 0 && b == 0
                let blockStride = b == 0 ? stride : 1
                let ratio = cfg.reg && firstBlock ? 1.0 : cfg.bottleRatio
                var mid = makeDivisible(Double(cfg.reg ? prevChs : outChs) * ratio, cfg.chDiv)
                let groups = cfg.groupSize.map { mid / $0 } ?? 1
                if let g = cfg.groupSize, g % cfg.chDiv == 0 { mid = g * groups }
                guard groups > 0, mid % groups == 0 else {
                    throw ModelBuildError("\(scope.prefix): \(mid) bottleneck channels do not split into groups of \(cfg.groupSize ?? 1)")
                }
                var downsample: (Int?, Conv2d)?
                if prevChs != outChs || blockStride != 1 {
                    downsample = (blockStride > 1 ? blockStride : nil, try conv(scope.scoped("downsample").scoped("conv"), prevChs, outChs, 1))
                }
                let skip = cfg.skipinit ? try scope.tensor("skipinit_gain", shape: []) : nil
                blocks.append(
                    NormFreeBlock(
                        position: BlockPosition(index: blocks.count, stage: s, name: scope.prefix), activation: activation,
                        activationScale: activationScale,
                        beta: Float(1 / expectedVar.squareRoot()), alpha: Float(cfg.alpha), attnGain: Float(cfg.attnGain),
                        downsample: downsample.map { (poolStride: $0.0, conv: $0.1) },
                        conv1: try conv(scope.scoped("conv1"), prevChs, mid, 1),
                        conv2: try conv(scope.scoped("conv2"), mid, mid, 3, stride: blockStride, groups: groups),
                        conv2b: cfg.extraConv ? try conv(scope.scoped("conv2b"), mid, mid, 3, groups: groups) : nil,
                        conv3: try conv(scope.scoped("conv3"), mid, outChs, 1),
                        attn: cfg.reg ? try attention(scope.scoped("attn"), channels: mid) : nil,
                        attnLast: cfg.reg ? nil : try attention(scope.scoped("attn_last"), channels: outChs),
                        skipinitGain: skip?.storage[0], skipinitParameters: skip == nil ? 0 : 1))
                expected.append(expectedVar)
                if b == 0 { expectedVar = 1 }  // reset after a stage's first block ...
                expectedVar += cfg.alpha * cfg.alpha  // ... which still adds alpha^2
                expectedOutputs.append(expectedVar)
                prevChs = outChs
            }
        }
        self.blocks = blocks
        expectedVariances = expected
        expectedOutputVariances = expectedOutputs
        var features = prevChs
        if cfg.numFeatures > 0 {
            features = makeDivisible(cfg.widthFactor * Double(cfg.numFeatures), cfg.chDiv)
            finalConv = try conv(root.scoped("final_conv"), prevChs, features, 1)
        } else {
            finalConv = nil
        }
        fc = try Linear(root.scoped("head").scoped("fc"), inFeatures: features, outFeatures: cfg.numClasses)
    }

    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == config.inChans else {
            throw ModelBuildError("\(architecture) expects input [N, \(config.inChans), H, W], got \(input.shape)")
        }
        var x = input
        for (i, conv) in stemConvs.enumerated() {
            if i > 0 { activation.apply(&x, scale: activationScale) }  // stem act2, act3, act4
            x = try conv(x, context)
        }
        if stemPool { x = maxPool2d(x, kernel: 3, stride: 2, padding: 1) }
        context.observe(.stemOutput, x)
        for block in blocks { x = try block(x, context) }
        if let finalConv { x = try finalConv(x, context) }
        activation.apply(&x, scale: activationScale)  // final_act
        return try fc(globalAveragePool(x), context)
    }

    public func executionPlan(precision: PlanPrecision) -> (any ExecutionPlan)? { NormFreeNetPlan(self, precision: precision) }

    public var parameterCount: Int {
        stemConvs.reduce(0) { $0 + $1.parameterCount } + blocks.reduce(0) { $0 + $1.parameterCount }
            + (finalConv?.parameterCount ?? 0) + fc.parameterCount
    }
}
