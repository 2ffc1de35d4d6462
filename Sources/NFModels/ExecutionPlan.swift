import NFLayers
import NFTensors

/// A classifier compiled for inference at load. The layers stay the source of truth for the
/// weights and for parity with timm; the plan is made from them once: BatchNorm folded into the
/// preceding convolution, activations, scales and the residual add fused into the convolutions
/// as oneDNN post-ops, activations kept in the blocked layout between steps (`BlockedTensor`,
/// reordered only at the ends), one primitive per layer and input shape, reused.
///
/// An observer gets what it reads from the same plan: where it reads normalization inputs (the
/// estimation shift, live on served predictions) exactly those convolutions are left unfolded
/// and their BatchNorm runs as a step of its own; where it reads block outputs and residual
/// branches (the signal-propagation plot), each block's sum, and the activation after it, run
/// as steps of their own. Observations are made on the blocked buffers
/// (`ForwardObserver.observe(_:blocked:)`), in the order the layers make them. BatchNorm on
/// batch statistics and stopping at a layer run on the layers.
public protocol ExecutionPlan: Sendable {
    /// `[N, C, H, W] -> [N, numClasses]` logits; the observer, when given, sees the sites it
    /// declares in `observedSites`; `stepBoundary`, when given, is called before each
    /// convolution after the first.
    func logits(_ input: Tensor, observer: (any ForwardObserver)?, stepBoundary: (() -> Void)?) throws -> Tensor
    /// The convolutions a bf16 or int8 plan keeps in FP32 (with why), in network order; empty for FP32.
    var keptInFP32: [KeptInFP32] { get }
}

/// A convolution a bf16 or int8 plan runs in FP32, and why.
public struct KeptInFP32: Sendable, Equatable, Codable {
    public let layer: String
    public let reason: String
    public init(layer: String, reason: String) {
        self.layer = layer
        self.reason = reason
    }
}

extension ExecutionPlan {
    public func logits(_ input: Tensor, observer: (any ForwardObserver)?) throws -> Tensor {
        try logits(input, observer: observer, stepBoundary: nil)
    }
}

extension ForwardContext {
    /// Whether an execution plan can run a pass with this context (else the layers do).
    public var allowsExecutionPlan: Bool { batchStatistics == nil && stopAtNormalization == nil }
}

/// One observer's view inside a plan: which kinds of site it reads.
struct PlanObserver {
    let observer: (any ForwardObserver)?
    /// Between steps (`ExecutionPlan.logits(_:observer:stepBoundary:)`).
    let stepBoundary: (() -> Void)?
    /// It reads normalization inputs: BatchNorm stays unfolded.
    let normalizationInputs: Bool
    /// It reads the stem's and the blocks' outputs and the residual branches: sums stay unfused.
    let blocks: Bool
    /// It reads what each convolution reads (calibration).
    let convolutionInputs: Bool
    /// It reads some activation: every one it may read stays FP32 (an int8 plan's quantized
    /// residual stream is off).
    var readsActivations: Bool { normalizationInputs || blocks || convolutionInputs }

    init(observer: (any ForwardObserver)?, stepBoundary: (() -> Void)? = nil) {
        self.observer = observer
        self.stepBoundary = stepBoundary
        let sites = observer?.observedSites ?? []
        normalizationInputs = sites.contains(.normalizationInputs)
        blocks = sites.contains(.blocks)
        convolutionInputs = sites.contains(.convolutionInputs)
    }

    func convolutionInput(_ name: String, _ x: BlockedTensor) throws {
        guard convolutionInputs, let observer else { return }
        try observer.observe(.convolutionInput(name: name), blocked: x)
    }

    /// A step ends and another begins.
    func boundary() { stepBoundary?() }

    func normalizationInput(_ name: String, _ x: BlockedTensor) throws {
        guard normalizationInputs, let observer else { return }
        try observer.observe(.normalizationInput(name: name), blocked: x)
    }

    /// Shows `x` at a stem, block-output or residual-branch site.
    func block(_ site: @autoclosure () -> ObservationSite, _ x: BlockedTensor) throws {
        guard blocks, let observer else { return }
        try observer.observe(site(), blocked: x)
    }
}

/// A convolution's weights and bias with what surrounds it folded in: a BatchNorm after it
/// (`w[o] * m[o]`, `b[o] * m[o] + a[o]` with its multiplier m and addend a), a constant scale of
/// its output (`w * s`, `b * s`), or of its input (`w * s` alone). Computed in Double, rounded once.
func foldedConvolution(
    _ conv: Convolution, multiplier: [Float]? = nil, addend: [Float]? = nil,
    outputScale: Float = 1, inputScale: Float = 1
) -> Convolution {
    if multiplier == nil && addend == nil && outputScale == 1 && inputScale == 1 { return conv }
    let out = conv.geometry.outChannels, perOutput = conv.weight.count / out
    var weight = conv.weight
    var bias = [Float](repeating: 0, count: out)
    for o in 0..<out {
        let m = Double(multiplier?[o] ?? 1) * Double(outputScale)
        let w = m * Double(inputScale)
        for i in (o * perOutput)..<((o + 1) * perOutput) { weight.storage[i] = Float(Double(conv.weight.storage[i]) * w) }
        bias[o] = Float(Double(conv.bias?.storage[o] ?? 0) * m + Double(addend?[o] ?? 0) * Double(outputScale))
    }
    let hasBias = conv.bias != nil || addend != nil
    return Convolution(geometry: conv.geometry, weight: weight, bias: hasBias ? Tensor(shape: [out], storage: bias) : nil)
}
