/// One normalization layer's estimation shift (Huang et al., CVPR 2022; docs/estimation-shift.md):
/// the l2 distances over channels between its running statistics and the statistics its input
/// really had. GroupNorm (batch-free) layers are listed in place with null ESM.
public struct EstimationShiftLayer: Sendable, Equatable, Codable {
    /// Position among the network's normalization layers (0-based, forward order).
    public var index: Int
    /// Checkpoint key prefix ("layer2.1.bn1").
    public var name: String
    /// "batchnorm" or "groupnorm".
    public var kind: String
    public var channels: Int
    /// `|| running_mean - mu ||_2`; nil for a batch-free layer or one no input reached.
    public var esmMean: Double?
    /// `|| running_var - sigma2 ||_2` (biased variance).
    public var esmVar: Double?

    enum CodingKeys: String, CodingKey {
        case index, name, kind, channels
        case esmMean = "esm_mean"
        case esmVar = "esm_var"
    }

    public init(index: Int, name: String, kind: String, channels: Int, esmMean: Double?, esmVar: Double?) {
        self.index = index
        self.name = name
        self.kind = kind
        self.channels = channels
        self.esmMean = esmMean
        self.esmVar = esmVar
    }

    /// `esm_mean` and `esm_var` are always written, null for a batch-free layer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(name, forKey: .name)
        try container.encode(kind, forKey: .kind)
        try container.encode(channels, forKey: .channels)
        try container.encode(esmMean, forKey: .esmMean)
        try container.encode(esmVar, forKey: .esmVar)
    }
}

/// The answer of `GET /diagnostics/esm` and `nfserve esm`.
public struct EstimationShiftReport: Sendable, Codable {
    public var model: String
    /// "dataset" or "live".
    public var source: String
    /// The dataset measured (source dataset).
    public var dataset: String?
    /// Live source: "all" (since the start or the last reset) or "recent" (the last `window`
    /// images or a little more, whole buckets of recent traffic).
    public var scope: String?
    /// The window asked for (live, recent).
    public var window: Int?
    /// Images the statistics were measured over.
    public var images: Int
    /// Which running statistics the model uses: "checkpoint", or "recalibrated on dataset:NAME".
    public var statistics: String
    public var layers: [EstimationShiftLayer]

    public init(
        model: String, source: String, dataset: String? = nil, scope: String? = nil, window: Int? = nil, images: Int,
        statistics: String, layers: [EstimationShiftLayer]
    ) {
        self.model = model
        self.source = source
        self.dataset = dataset
        self.scope = scope
        self.window = window
        self.images = images
        self.statistics = statistics
        self.layers = layers
    }
}
