import NFCheckpoint
import NFTensors

/// timm's `NfCfg` (timm/models/nfnet.py) with its defaults, each commented as there.
/// config.json `model_args` may override any field, as `timm.create_model(name, **model_args)`
/// does through `dataclasses.replace(cfg, **kwargs)`.
public struct NormFreeConfig: Sendable, Equatable {
    public var depths: [Int]
    public var channels: [Int]
    /// Residual branch scale (the paper's alpha).
    public var alpha: Double = 0.2
    /// '', '7x7', '3x3', 'deep', 'deep_tiered', 'deep_quad', with an optional '_pool' suffix.
    public var stemType: String = "3x3"
    /// Stem output channels; nil means channels[0].
    public var stemChs: Int? = nil
    /// Channels per group of the 3x3 convs; nil means ungrouped.
    public var groupSize: Int? = nil
    /// 'se', 'eca' or nil.
    public var attnLayer: String? = nil
    /// SE: rd_ratio (default 1/16) and rd_divisor (default 8).
    public var attnKwargs: [String: JSONValue] = [:]
    /// Gain after the attention module, correcting its variance reduction (paper: 2).
    public var attnGain: Double = 2.0
    public var widthFactor: Double = 1.0
    public var bottleRatio: Double = 0.5
    /// Channels of the final 1x1 conv; 0 means no final conv.
    public var numFeatures: Int = 0
    /// Channel counts are rounded to multiples of this.
    public var chDiv: Int = 8
    /// RegNet-style blocks: width from in_chs, attention between conv2 and conv3.
    public var reg: Bool = false
    /// Extra 3x3 conv (conv2b) in each block (NFNet-F).
    public var extraConv: Bool = false
    /// Apply the activation gamma in each activation (DeepMind's weights) instead of folding it
    /// into every ScaledStdConv2d.
    public var gammaInAct: Bool = false
    /// TF "SAME" padding on every conv (DeepMind's weights).
    public var samePadding: Bool = false
    /// eps of the weight standardization.
    public var stdConvEps: Double = 1e-5
    /// A learned scalar `skipinit_gain` on the residual branch.
    public var skipinit: Bool = false
    public var zeroInitFc: Bool = false
    public var actLayer: String = "silu"

    public var numClasses: Int = 1000
    public var inChans: Int = 3

    public init(depths: [Int], channels: [Int]) {
        self.depths = depths
        self.channels = channels
    }

    public mutating func apply(_ args: inout ModelArguments) throws {
        depths = try args.ints("depths", default: depths)
        channels = try args.ints("channels", default: channels)
        alpha = try args.double("alpha", default: alpha)
        stemType = try args.string("stem_type", default: stemType)
        // timm treats 0 / None as "not set"; a negative value is an error (validate()).
        let stem = try args.int("stem_chs", default: stemChs ?? 0)
        stemChs = stem == 0 ? nil : stem
        let group = try args.int("group_size", default: groupSize ?? 0)
        groupSize = group == 0 ? nil : group
        attnLayer = try args.optionalString("attn_layer") ?? attnLayer
        attnKwargs = try args.object("attn_kwargs", default: attnKwargs)
        attnGain = try args.double("attn_gain", default: attnGain)
        widthFactor = try args.double("width_factor", default: widthFactor)
        bottleRatio = try args.double("bottle_ratio", default: bottleRatio)
        numFeatures = try args.int("num_features", default: numFeatures)
        chDiv = try args.int("ch_div", default: chDiv)
        reg = try args.bool("reg", default: reg)
        extraConv = try args.bool("extra_conv", default: extraConv)
        gammaInAct = try args.bool("gamma_in_act", default: gammaInAct)
        samePadding = try args.bool("same_padding", default: samePadding)
        stdConvEps = try args.double("std_conv_eps", default: stdConvEps)
        skipinit = try args.bool("skipinit", default: skipinit)
        zeroInitFc = try args.bool("zero_init_fc", default: zeroInitFc)
        actLayer = try args.string("act_layer", default: actLayer)
        numClasses = try args.int("num_classes", default: numClasses)
        inChans = try args.int("in_chans", default: inChans)
        let pool = try args.string("global_pool", default: "avg")
        let outputStride = try args.int("output_stride", default: 32)
        args.accept(["drop_rate", "drop_path_rate", "pretrained_cfg_overlay"])
        if pool != "avg" { throw ModelBuildError("global_pool \"\(pool)\" is not supported (only \"avg\")") }
        if outputStride != 32 { throw ModelBuildError("output_stride \(outputStride) is not supported (only 32)") }
        try validate()
    }

    func validate() throws {
        guard depths.count == channels.count, !depths.isEmpty, depths.allSatisfy({ $0 > 0 }), channels.allSatisfy({ $0 > 0 }) else {
            throw ModelBuildError("NormFreeNet needs as many positive \"depths\" as \"channels\" (got \(depths) and \(channels))")
        }
        guard chDiv > 0, widthFactor > 0, bottleRatio > 0, numFeatures >= 0, inChans > 0, numClasses > 0,
            stdConvEps >= 0, alpha.isFinite, attnGain.isFinite, (stemChs ?? 1) > 0, (groupSize ?? 1) > 0
        else {
            throw ModelBuildError(
                "NormFreeNet ch_div, width_factor, bottle_ratio, in_chans, num_classes, stem_chs and group_size must be positive, num_features and std_conv_eps not negative"
            )
        }
        let stems = ["", "deep", "deep_tiered", "deep_quad", "3x3", "7x7", "deep_pool", "3x3_pool", "7x7_pool"]
        guard stems.contains(stemType) else { throw ModelBuildError("stem_type \"\(stemType)\" is not one of \(stems)") }
        guard Activation(rawValue: actLayer) != nil, NormFreeConfig.activationGamma[actLayer] != nil else {
            throw ModelBuildError("act_layer \"\(actLayer)\" is not supported (relu, gelu, silu, sigmoid, tanh, identity)")
        }
        if let a = attnLayer, a != "se", a != "eca" { throw ModelBuildError("attn_layer \"\(a)\" is not supported (se, eca)") }
        if stemType == "deep_quad_pool" { throw ModelBuildError("deep_quad stems have no pool") }
    }

    /// DeepMind's variance-preserving activation gains (timm `_nonlin_gamma`).
    public static let activationGamma: [String: Double] = [
        "identity": 1.0, "celu": 1.270926833152771, "elu": 1.2716004848480225, "gelu": 1.7015043497085571,
        "leaky_relu": 1.70590341091156, "log_sigmoid": 1.9193484783172607, "log_softmax": 1.0002083778381348,
        "relu": 1.7139588594436646, "relu6": 1.7131484746932983, "selu": 1.0008515119552612,
        "sigmoid": 4.803835391998291, "silu": 1.7881293296813965, "softsign": 2.338853120803833,
        "softplus": 1.9203323125839233, "tanh": 1.5939117670059204,
    ]
}

/// timm `make_divisible`: round to the nearest multiple of `divisor`, at least `minValue`,
/// and never more than 10% (1 - roundLimit) below `v`.
func makeDivisible(_ v: Double, _ divisor: Int, minValue: Int? = nil, roundLimit: Double = 0.9) -> Int {
    var result = max(minValue ?? divisor, Int(v + Double(divisor) / 2) / divisor * divisor)
    if Double(result) < roundLimit * v { result += divisor }
    return result
}

extension NormFreeConfig {
    /// timm's `model_cfgs` table (nfnet.py): every NormFreeNet variant built from these pieces.
    public static let variants: [String: NormFreeConfig] = {
        func nfres(_ depths: [Int], attn: String? = nil, kwargs: [String: JSONValue] = [:]) -> NormFreeConfig {
            var c = NormFreeConfig(depths: depths, channels: [256, 512, 1024, 2048])
            c.stemType = "7x7_pool"
            c.stemChs = 64
            c.bottleRatio = 0.25
            c.actLayer = "relu"
            c.attnLayer = attn
            c.attnKwargs = kwargs
            return c
        }
        func nfreg(_ depths: [Int], _ channels: [Int] = [48, 104, 208, 440]) -> NormFreeConfig {
            var c = NormFreeConfig(depths: depths, channels: channels)
            c.stemType = "3x3"
            c.groupSize = 8
            c.widthFactor = 0.75
            c.bottleRatio = 2.25
            c.numFeatures = 1280 * channels.last! / 440
            c.reg = true
            c.attnLayer = "se"
            c.attnKwargs = ["rd_ratio": .number(0.5)]
            return c
        }
        func nfnet(
            _ depths: [Int], featMult: Double = 2, groupSize: Int = 128, bottle: Double = 0.5,
            act: String = "gelu", attn: String = "se", kwargs: [String: JSONValue] = ["rd_ratio": .number(0.5)]
        ) -> NormFreeConfig {
            var c = NormFreeConfig(depths: depths, channels: [256, 512, 1536, 1536])
            c.stemType = "deep_quad"
            c.stemChs = 128
            c.groupSize = groupSize
            c.bottleRatio = bottle
            c.extraConv = true
            c.numFeatures = Int(1536 * featMult)
            c.actLayer = act
            c.attnLayer = attn
            c.attnKwargs = kwargs
            return c
        }
        func dm(_ depths: [Int]) -> NormFreeConfig {
            var c = nfnet(depths)
            c.gammaInAct = true
            c.samePadding = true
            c.skipinit = true
            return c
        }
        let f = [
            [1, 2, 6, 3], [2, 4, 12, 6], [3, 6, 18, 9], [4, 8, 24, 12], [5, 10, 30, 15], [6, 12, 36, 18], [7, 14, 42, 21], [8, 16, 48, 24],
        ]
        var table: [String: NormFreeConfig] = [:]
        for i in 0..<7 { table["dm_nfnet_f\(i)"] = dm(f[i]) }
        for i in 0..<8 { table["nfnet_f\(i)"] = nfnet(f[i]) }
        let light: [String: JSONValue] = ["rd_ratio": .number(0.25), "rd_divisor": .number(8)]
        table["nfnet_l0"] = nfnet(f[0], featMult: 1.5, groupSize: 64, bottle: 0.25, act: "silu", kwargs: light)
        table["eca_nfnet_l0"] = nfnet(f[0], featMult: 1.5, groupSize: 64, bottle: 0.25, act: "silu", attn: "eca", kwargs: [:])
        for (i, d) in [[2, 4, 12, 6], [3, 6, 18, 9], [4, 8, 24, 12]].enumerated() {
            table["eca_nfnet_l\(i + 1)"] = nfnet(d, featMult: 2, groupSize: 64, bottle: 0.25, act: "silu", attn: "eca", kwargs: [:])
        }
        table["nf_regnet_b0"] = nfreg([1, 3, 6, 6])
        table["nf_regnet_b1"] = nfreg([2, 4, 7, 7])
        table["nf_regnet_b2"] = nfreg([2, 4, 8, 8], [56, 112, 232, 488])
        table["nf_regnet_b3"] = nfreg([2, 5, 9, 9], [56, 128, 248, 528])
        table["nf_regnet_b4"] = nfreg([2, 6, 11, 11], [64, 144, 288, 616])
        table["nf_regnet_b5"] = nfreg([3, 7, 14, 14], [80, 168, 336, 704])
        let depths: [(String, [Int])] = [("26", [2, 2, 2, 2]), ("50", [3, 4, 6, 3]), ("101", [3, 4, 23, 3])]
        for (n, d) in depths {
            table["nf_resnet\(n)"] = nfres(d)
            table["nf_seresnet\(n)"] = nfres(d, attn: "se", kwargs: ["rd_ratio": .number(1.0 / 16)])
            table["nf_ecaresnet\(n)"] = nfres(d, attn: "eca")
        }
        table["test_nfnet"] = {
            var c = nfnet([1, 1, 1, 1], featMult: 1.5, groupSize: 8, bottle: 0.25, act: "silu", kwargs: light)
            c.channels = [32, 64, 96, 128]
            c.numFeatures = Int(128 * 1.5)
            return c
        }()
        return table
    }()
}
