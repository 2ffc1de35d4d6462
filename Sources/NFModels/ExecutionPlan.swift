import NFLayers
import NFTensors

/// A classifier compiled for inference at load. The layers stay the source of truth for the
/// weights and for parity with timm; the plan is made from them once: BatchNorm folded into the
/// preceding convolution, activations, scales and the residual add fused into the convolutions
/// as oneDNN post-ops, activations kept in the blocked layout between steps (`BlockedTensor`,
/// reordered only at the ends), one primitive per layer and input shape, reused.
///
/// An observer that reads normalization inputs (the estimation shift, live on every served
/// prediction) gets them from the same plan: exactly those convolutions are left unfolded and
/// their BatchNorm runs as a step of its own. Anything a plan cannot honour (observers of
/// block outputs, BatchNorm on batch statistics, stopping at a layer) runs on the layers.
public protocol ExecutionPlan: Sendable {
    /// `[N, C, H, W] -> [N, numClasses]` logits; the observer, when given, sees the sites it
    /// declares in `observedSites`, which must lie within `.normalizationInputs`.
    func logits(_ input: Tensor, observer: (any ForwardObserver)?) throws -> Tensor
}

extension ForwardContext {
    /// Whether an execution plan can run a pass with this context (else the layers do).
    public var allowsExecutionPlan: Bool {
        batchStatistics == nil && stopAtNormalization == nil
            && (observer.map { ObservedSites.normalizationInputs.isSuperset(of: $0.observedSites) } ?? true)
    }
}

/// One observer's view inside a plan: whether it reads normalization inputs.
struct PlanObserver {
    let observer: (any ForwardObserver)?
    var normalizationInputs: Bool { observer.map { $0.observedSites.contains(.normalizationInputs) } ?? false }

    func normalizationInput(_ name: String, _ x: BlockedTensor) throws {
        guard let observer else { return }
        observer.observe(.normalizationInput(name: name), try x.plain())
    }
}

/// A convolution's weights and bias with what surrounds it folded in: a BatchNorm after it
/// (`w[o] * m[o]`, `b[o] * m[o] + a[o]` with its multiplier m and addend a), a constant scale of
/// its output (`w * s`, `b * s`), or of its input (`w * s` alone). Computed in Double, rounded once.
func foldedConvolution(_ conv: Convolution, multiplier: [Float]? = nil, addend: [Float]? = nil,
                       outputScale: Float = 1, inputScale: Float = 1) -> Convolution {
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
