import NFModels

/// A network of the NF-ResNet paper's figures, described by its design alone (no weights), as
/// `POST /diagnostics/spp` and `nfserve spp --architecture` take it:
///
///     {"family": "preact_resnet", "order": "bn_relu_conv" | "relu_bn_conv", "depths": [50, 50, 50, 50], "width": 4}
///     {"family": "nf_resnet", "alpha": 0.2, "weight_standardization": true, "activation": "relu", "depths": [...], "width": 4}
///
/// Absent fields take the defaults below; `validated()` fills them in and checks the limits.
/// Built as docs/signal-propagation.md describes (`DesignNetwork`).
public struct NetworkDesign: Sendable, Equatable, Codable {
    public enum Family: String, Sendable, Codable {
        case preactResnet = "preact_resnet"
        case nfResnet = "nf_resnet"
    }

    public enum Order: String, Sendable, Codable {
        case bnReluConv = "bn_relu_conv"
        case reluBnConv = "relu_bn_conv"
    }

    public var family: Family
    /// preact_resnet: where BatchNorm and ReLU sit before each conv (default bn_relu_conv).
    public var order: Order?
    /// nf_resnet: the residual branch's scale (default 0.2).
    public var alpha: Double?
    /// nf_resnet: Scaled Weight Standardization on every conv (default true).
    public var weightStandardization: Bool?
    /// nf_resnet: relu, silu or gelu (default relu); scaled by its gamma with weight standardization.
    public var activation: String?
    /// Blocks per stage (default the paper's ResNet-600, [50, 50, 50, 50]).
    public var depths: [Int]?
    /// Channel multiplier (default 4: ResNet-50's widths).
    public var width: Int?
    /// A name for legends; a default is made from the design.
    public var label: String?

    enum CodingKeys: String, CodingKey {
        case family, order, alpha, activation, depths, width, label
        case weightStandardization = "weight_standardization"
    }

    public init(
        family: Family, order: Order? = nil, alpha: Double? = nil, weightStandardization: Bool? = nil,
        activation: String? = nil, depths: [Int]? = nil, width: Int? = nil, label: String? = nil
    ) {
        self.family = family
        self.order = order
        self.alpha = alpha
        self.weightStandardization = weightStandardization
        self.activation = activation
        self.depths = depths
        self.width = width
        self.label = label
    }

    public static let activations = ["relu", "silu", "gelu"]

    /// Every field filled in (family-specific ones only), checked against `SignalPropagationLimits`.
    public func validated() throws -> NetworkDesign {
        var design = self
        design.depths = depths ?? [50, 50, 50, 50]
        design.width = width ?? 4
        let limits = SignalPropagationLimits.self
        guard let depths = design.depths, (1...4).contains(depths.count) else {
            throw DiagnosticsRequestError("depths must list 1 to 4 stages, got \(design.depths?.count ?? 0)")
        }
        guard depths.allSatisfy({ (1...limits.maxBlocksPerStage).contains($0) }) else {
            throw DiagnosticsRequestError("each stage has 1 to \(limits.maxBlocksPerStage) blocks (limit maxBlocksPerStage), got \(depths)")
        }
        guard (1...limits.maxWidth).contains(design.width!) else {
            throw DiagnosticsRequestError("width must be 1 to \(limits.maxWidth) (limit maxWidth), got \(design.width!)")
        }
        switch family {
        case .preactResnet:
            guard alpha == nil, weightStandardization == nil, activation == nil else {
                throw DiagnosticsRequestError("alpha, weight_standardization and activation belong to family nf_resnet, not preact_resnet")
            }
            design.order = order ?? .bnReluConv
        case .nfResnet:
            guard order == nil else { throw DiagnosticsRequestError("order belongs to family preact_resnet, not nf_resnet") }
            design.alpha = alpha ?? 0.2
            design.weightStandardization = weightStandardization ?? true
            design.activation = activation ?? "relu"
            guard let a = design.alpha, a.isFinite, a >= 0, a <= 10 else {
                throw DiagnosticsRequestError("alpha must be a number from 0 to 10, got \(design.alpha!)")
            }
            guard Self.activations.contains(design.activation!) else {
                throw DiagnosticsRequestError("activation must be one of \(Self.activations.joined(separator: ", ")), got \"\(design.activation!)\"")
            }
        }
        design.label = label ?? design.defaultLabel
        return design
    }

    /// "BN-ReLU-Conv", "ReLU-BN-Conv", "NF-ResNet (WS)", "NF-ResNet (no WS)", with the activation
    /// and alpha when they are not the defaults.
    var defaultLabel: String {
        switch family {
        case .preactResnet:
            return (order ?? .bnReluConv) == .bnReluConv ? "BN-ReLU-Conv" : "ReLU-BN-Conv"
        case .nfResnet:
            var parts = [(weightStandardization ?? true) ? "WS" : "no WS"]
            if let a = activation, a != "relu" { parts.append(a) }
            if let a = alpha, a != 0.2 { parts.append("alpha \(a)") }
            return "NF-ResNet (\(parts.joined(separator: ", ")))"
        }
    }

    /// Output channels of stage s.
    func stageChannels(_ s: Int) -> Int { [64, 128, 256, 512][s] * width! }
    var stemChannels: Int { 16 * width! }
}

/// What one signal-propagation request may ask for: enough for the paper's ResNet-600 at
/// 64 px, batch 4 and a good deal more, while one request stays within a few GB and about a
/// minute on a small server. Beyond a limit the request is refused (400) naming it and its value.
public enum SignalPropagationLimits {
    /// Images (or noise samples) per measurement.
    public static let maxBatch = 16
    /// Square side of a Gaussian input, in pixels (designs need 32 to keep a pixel in the last stage).
    public static let maxSize = 512
    public static let minDesignSize = 32
    /// batch x size^2: bounds the activations' memory (16 images of 256 x 256).
    public static let maxInputPixels = 16 * 256 * 256
    public static let maxBlocksPerStage = 100
    public static let maxWidth = 8
    /// Floating-point operations of one run's forward pass.
    public static let maxGigaFLOPs = 600.0
    /// Networks measured in one request (overlaid in one picture).
    public static let maxRuns = 4

    static func checkInput(batch: Int, size: Int) throws {
        guard (1...maxBatch).contains(batch) else {
            throw DiagnosticsRequestError("batch must be 1 to \(maxBatch) (limit maxBatch), got \(batch)")
        }
        guard size >= 1 else { throw DiagnosticsRequestError("size must be positive, got \(size)") }
        guard size <= maxSize else { throw DiagnosticsRequestError("size must be at most \(maxSize) (limit maxSize), got \(size)") }
        guard batch * size * size <= maxInputPixels else {
            throw DiagnosticsRequestError(
                "batch x size^2 = \(batch * size * size) is over the limit maxInputPixels, \(maxInputPixels) (e.g. batch 16 at 256 px)")
        }
    }
}
