/// One point of a signal propagation plot (Brock, De & Smith 2021): point 0 is the stem's
/// output, point i the output of residual block i, with its branch's variance.
public struct SignalPropagationPoint: Sendable, Equatable, Codable {
    public var index: Int
    /// Checkpoint-style key prefix: "stem", "layer2.0", "stages.1.0".
    public var name: String
    /// The block's stage (0-based); nil for the stem.
    public var stage: Int?
    /// `(1/C) sum_c mean_c^2` over the activation's channels.
    public var averageSquaredChannelMean: Double
    /// `(1/C) sum_c var_c` (biased variances).
    public var averageChannelVariance: Double
    /// The residual branch's average channel variance; nil for the stem.
    public var residualVariance: Double?
    /// The analytic variance of a normalizer-free network at this point (the beta bookkeeping);
    /// nil for normalized networks.
    public var expectedVariance: Double?

    enum CodingKeys: String, CodingKey {
        case index, name, stage
        case averageSquaredChannelMean = "avg_sq_channel_mean"
        case averageChannelVariance = "avg_channel_var"
        case residualVariance = "residual_var"
        case expectedVariance = "expected_var"
    }

    public init(
        index: Int, name: String, stage: Int?, averageSquaredChannelMean: Double, averageChannelVariance: Double,
        residualVariance: Double?, expectedVariance: Double?
    ) {
        self.index = index
        self.name = name
        self.stage = stage
        self.averageSquaredChannelMean = averageSquaredChannelMean
        self.averageChannelVariance = averageChannelVariance
        self.residualVariance = residualVariance
        self.expectedVariance = expectedVariance
    }

    /// `stage` and `residual_var` are always written (null for the stem); `expected_var` only
    /// for normalizer-free networks.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(name, forKey: .name)
        try container.encode(stage, forKey: .stage)
        try container.encode(averageSquaredChannelMean, forKey: .averageSquaredChannelMean)
        try container.encode(averageChannelVariance, forKey: .averageChannelVariance)
        try container.encode(residualVariance, forKey: .residualVariance)
        try container.encodeIfPresent(expectedVariance, forKey: .expectedVariance)
    }
}

/// What a signal propagation plot was measured on: N(0, 1) noise of nfserve's seeded generator,
/// or the first `batch` images of a dataset preprocessed as for prediction.
public struct SignalPropagationInput: Sendable, Equatable, Codable {
    public enum Source: String, Sendable, Codable {
        case gaussian, dataset
    }

    public var source: Source
    /// The dataset's name (source `dataset`).
    public var dataset: String?
    /// Images or noise samples; default 8 for a served model, 4 at initialization.
    public var batch: Int?
    /// Square side in pixels (gaussian); in a report, the side the network was fed.
    public var size: Int?
    /// The generator's seed (gaussian).
    public var seed: UInt64?
    /// In a report: the input's channels.
    public var channels: Int?

    enum CodingKeys: String, CodingKey {
        case source, dataset, batch, size, seed, channels
    }

    /// Every field optional; `source` defaults to gaussian.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        source = try container.decodeIfPresent(Source.self, forKey: .source) ?? .gaussian
        dataset = try container.decodeIfPresent(String.self, forKey: .dataset)
        batch = try container.decodeIfPresent(Int.self, forKey: .batch)
        size = try container.decodeIfPresent(Int.self, forKey: .size)
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed)
        channels = try container.decodeIfPresent(Int.self, forKey: .channels)
    }

    public init(
        source: Source = .gaussian, dataset: String? = nil, batch: Int? = nil, size: Int? = nil, seed: UInt64? = nil,
        channels: Int? = nil
    ) {
        self.source = source
        self.dataset = dataset
        self.batch = batch
        self.size = size
        self.seed = seed
        self.channels = channels
    }
}

extension SignalPropagationInput {
    /// The query form of `GET /diagnostics/spp` and `nfserve spp`: `input=gaussian` or
    /// `input=dataset:NAME`, with `batch`, `size` and `seed`.
    public init(query input: String?, batch: Int?, size: Int?, seed: UInt64?) throws {
        switch input {
        case nil, "gaussian":
            self.init(source: .gaussian, batch: batch, size: size, seed: seed)
        case let value? where value.hasPrefix("dataset:") && value.count > "dataset:".count:
            self.init(source: .dataset, dataset: String(value.dropFirst("dataset:".count)), batch: batch, size: size, seed: seed)
        case let value?:
            throw DiagnosticsRequestError("input must be gaussian or dataset:NAME, got \"\(value)\"")
        }
    }
}

/// The answer of `/diagnostics/spp` and `nfserve spp` for one network.
public struct SignalPropagationReport: Sendable, Codable {
    /// The served model, or the registered architecture built at initialization.
    public var model: String?
    /// The design measured at initialization (POST with "architecture").
    public var architecture: NetworkDesign?
    /// True when the network was measured at initialization rather than trained weights.
    public var atInit: Bool
    /// A short name for legends ("fmnist-resnet-bn", "BN-ReLU-Conv", "NF-ResNet, WS").
    public var label: String
    public var input: SignalPropagationInput
    /// Where block outputs are measured.
    public var blockOutput: String
    /// Anything a reader needs to know to read the numbers (BatchNorm mode, gains changed).
    public var notes: [String]
    /// Wall-clock time of the measurement (building the network included), in seconds.
    public var seconds: Double
    public var points: [SignalPropagationPoint]

    enum CodingKeys: String, CodingKey {
        case model, architecture, label, input, notes, seconds, points
        case atInit = "at_init"
        case blockOutput = "block_output"
    }
}

/// Several networks measured in one request, to overlay (POST with a list).
public struct SignalPropagationRuns: Sendable, Codable {
    public var runs: [SignalPropagationReport]
    public init(runs: [SignalPropagationReport]) { self.runs = runs }
}

/// A request nfserve cannot measure as asked (a limit exceeded, an unknown dataset, a bad
/// design): its message says what and what to do. The server answers 400.
public struct DiagnosticsRequestError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
