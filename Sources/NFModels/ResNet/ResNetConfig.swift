import NFCheckpoint

/// timm's `ResNet` constructor arguments that decide the numbers (timm/models/resnet.py).
/// The defaults are timm's; each registered variant overrides a few, and config.json
/// `model_args` may override any of them, as `timm.create_model(name, **model_args)` does.
public struct ResNetConfig: Sendable, Equatable {
    public enum Block: String, Sendable {
        case basic, bottleneck
        /// Output channels per stage = planes * expansion (`BasicBlock.expansion`, `Bottleneck.expansion`).
        public var expansion: Int { self == .basic ? 1 : 4 }
    }

    /// XBNBlock variants (Huang et al. 2022): which BatchNorm of each block becomes a GroupNorm.
    /// The stem's norm becomes GroupNorm in all three; downsample norms stay BatchNorm.
    public enum XBNVariant: String, Sendable {
        case p1, p2, p3
    }

    public var block: Block
    /// Blocks per stage (timm `layers`).
    public var layers: [Int]
    /// Planes per stage (timm `channels`, default (64, 128, 256, 512)); a stage outputs planes * expansion.
    public var channels: [Int] = [64, 128, 256, 512]
    public var inChans: Int = 3
    public var numClasses: Int = 1000
    /// Width of the deep stem's convolutions. A plain 7x7 stem has 64 output channels whatever
    /// this says (timm: `inplanes = stem_width * 2 if deep_stem else 64`).
    public var stemWidth: Int = 64
    /// '' (one 7x7 conv), 'deep' (three 3x3 convs: w, w, 2w) or 'deep_tiered' (3*(w/4), w, 2w).
    public var stemType: String = ""
    /// Downsample shortcuts as 2x2 average pool (ceil_mode, count_include_pad=False) + 1x1 conv
    /// instead of a strided 1x1 conv (the "D" variants).
    public var avgDown: Bool = false
    /// Groups of a bottleneck's 3x3 conv (ResNeXt); must be 1 for basic blocks.
    public var cardinality: Int = 1
    /// Bottleneck width factor: width = floor(planes * base_width / 64) * cardinality.
    public var baseWidth: Int = 64
    /// Kernel of a strided `downsample_conv` (1 for all but SENet).
    public var downKernelSize: Int = 1
    /// Reduction of a block's first conv width (`block_reduce_first`, 1 but for SENet).
    public var blockReduceFirst: Int = 1
    /// nfserve extension (no timm counterpart): build an XBNBlock ResNet.
    public var xbn: XBNVariant? = nil
    /// GroupNorm groups of the XBNBlock norms, capped at the channel count (XBNBlock's default 64).
    public var gnGroups: Int = 64

    public init(block: Block, layers: [Int]) {
        self.block = block
        self.layers = layers
    }

    /// Applies config.json `model_args` overrides.
    public mutating func apply(_ args: inout ModelArguments) throws {
        layers = try args.ints("layers", default: layers)
        channels = try args.ints("channels", default: channels)
        inChans = try args.int("in_chans", default: inChans)
        numClasses = try args.int("num_classes", default: numClasses)
        stemWidth = try args.int("stem_width", default: stemWidth)
        stemType = try args.string("stem_type", default: stemType)
        avgDown = try args.bool("avg_down", default: avgDown)
        cardinality = try args.int("cardinality", default: cardinality)
        baseWidth = try args.int("base_width", default: baseWidth)
        downKernelSize = try args.int("down_kernel_size", default: downKernelSize)
        blockReduceFirst = try args.int("block_reduce_first", default: blockReduceFirst)
        if let variant = try args.optionalString("xbn") {
            guard let v = XBNVariant(rawValue: variant.lowercased()) else {
                throw ModelBuildError("model_args \"xbn\" must be \"p1\", \"p2\" or \"p3\", got \"\(variant)\"")
            }
            xbn = v
        }
        gnGroups = try args.int("gn_groups", default: gnGroups)
        let pool = try args.string("global_pool", default: "avg")
        let outputStride = try args.int("output_stride", default: 32)
        args.accept(["drop_rate", "drop_path_rate", "drop_block_rate", "zero_init_last", "pretrained_cfg_overlay"])
        if pool != "avg" { throw ModelBuildError("global_pool \"\(pool)\" is not supported (only \"avg\")") }
        if outputStride != 32 { throw ModelBuildError("output_stride \(outputStride) is not supported (only 32)") }
        try validate()
    }

    func validate() throws {
        guard !layers.isEmpty, layers.count == channels.count else {
            throw ModelBuildError("resnet needs as many \"layers\" as \"channels\" (got \(layers) and \(channels))")
        }
        guard layers.allSatisfy({ $0 > 0 }), channels.allSatisfy({ $0 > 0 }), inChans > 0, numClasses > 0 else {
            throw ModelBuildError("resnet layers, channels, in_chans and num_classes must be positive")
        }
        guard ["", "deep", "deep_tiered"].contains(stemType) else {
            throw ModelBuildError("stem_type \"\(stemType)\" is not supported ('', 'deep', 'deep_tiered')")
        }
        guard stemWidth > 0, cardinality > 0, baseWidth > 0, downKernelSize > 0, blockReduceFirst > 0, gnGroups > 0 else {
            throw ModelBuildError("resnet stem_width, cardinality, base_width, down_kernel_size, block_reduce_first and gn_groups must be positive")
        }
        if block == .basic && (cardinality != 1 || baseWidth != 64) {
            throw ModelBuildError("BasicBlock only supports cardinality=1 and base_width=64 (timm asserts it)")
        }
    }

    var deepStem: Bool { stemType.hasPrefix("deep") }
    /// Channels the stem outputs (timm `inplanes`).
    var stemOutChannels: Int { deepStem ? stemWidth * 2 : 64 }
    var numFeatures: Int { channels.last! * block.expansion }
}

extension ResNetConfig {
    /// timm's registered ResNets that nfserve builds (`@register_model def resnet18(...)` etc.).
    public static let variants: [String: ResNetConfig] = {
        func d(_ c: ResNetConfig) -> ResNetConfig {
            var c = c
            c.stemWidth = 32
            c.stemType = "deep"
            c.avgDown = true
            return c
        }
        let r18 = ResNetConfig(block: .basic, layers: [2, 2, 2, 2])
        let r26 = ResNetConfig(block: .bottleneck, layers: [2, 2, 2, 2])
        let r34 = ResNetConfig(block: .basic, layers: [3, 4, 6, 3])
        let r50 = ResNetConfig(block: .bottleneck, layers: [3, 4, 6, 3])
        let r101 = ResNetConfig(block: .bottleneck, layers: [3, 4, 23, 3])
        let r152 = ResNetConfig(block: .bottleneck, layers: [3, 8, 36, 3])
        return [
            "resnet18": r18, "resnet26": r26, "resnet34": r34, "resnet50": r50, "resnet101": r101, "resnet152": r152,
            "resnet18d": d(r18), "resnet26d": d(r26), "resnet34d": d(r34), "resnet50d": d(r50),
            "resnet101d": d(r101), "resnet152d": d(r152),
        ]
    }()
}
