import NFLayers
import NFTensors

/// How a network normalizes its activations (reported by `/models`).
public enum NormalizationKind: String, Sendable, Codable {
    case batchnorm, groupnorm, mixed
    case normalizerFree = "normalizer-free"
}

/// A CNN classifier built from a checkpoint: NCHW float input in, `[N, numClasses]` logits out.
///
/// Implementations are immutable once built, so one instance serves concurrent requests.
/// Diagnostics listen through `ForwardContext.observer`; models only report sites.
public protocol ImageClassifier: Sendable {
    var architecture: String { get }
    var inputChannels: Int { get }
    var numClasses: Int { get }
    var normalizationKind: NormalizationKind { get }
    var parameterCount: Int { get }
    /// Every normalization layer (BatchNorm with its running statistics, GroupNorm), in the order
    /// the forward pass reaches their inputs (for the estimation shift).
    var normalizationLayers: [Normalization2d] { get }
    /// The same network with the running statistics of the BatchNorms named in `statistics`
    /// replaced (AdaBN); every other layer shared.
    func replacingRunningStatistics(_ statistics: [String: RunningStatistics]) -> any ImageClassifier
    /// `[N, C, H, W] -> [N, numClasses]` logits.
    func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor
    /// The network compiled for inference at `precision` (nil: the layers serve every pass).
    func executionPlan(precision: PlanPrecision) -> (any ExecutionPlan)?
}

extension ImageClassifier {
    public func executionPlan(precision: PlanPrecision) -> (any ExecutionPlan)? { nil }
    /// The FP32 plan.
    public func executionPlan() -> (any ExecutionPlan)? { executionPlan(precision: .fp32) }

    /// Every BatchNorm layer with its running statistics, in forward order.
    public var batchNormLayers: [BatchNorm2d] { normalizationLayers.compactMap(\.batchNorm) }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try forward(input, context: ForwardContext())
    }

    /// Floating-point operations (2 per multiply-accumulate of convolutions and linear layers)
    /// of one forward pass at `[1, C, height, width]`, counted by running one.
    public func flops(height: Int, width: Int) throws -> Int {
        let context = ForwardContext()
        _ = try forward(Tensor(shape: [1, inputChannels, height, width]), context: context)
        return context.flops
    }
}

/// Thrown when a config.json names an architecture or arguments nfserve cannot build.
public struct ModelBuildError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
