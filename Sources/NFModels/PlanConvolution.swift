import NFLayers
import NFTensors

/// A convolution as a plan runs it, at the plan's precision: the FP32 `Convolution` (weights
/// with what surrounds them folded in), or in an int8 plan its `QuantizedConvolution` where the
/// calibration has a range for its input (the FP32 weights are then not kept). Shows its input
/// to a calibrating observer first.
struct PlanConvolution: Sendable {
    let name: String
    private enum Kernel {
        case fp32(Convolution)
        case int8(QuantizedConvolution)
    }
    private let kernel: Kernel

    var int8: QuantizedConvolution? {
        if case let .int8(quantized) = kernel { return quantized }
        return nil
    }

    /// `fp32` at `precision`; `kept` collects why a convolution of an int8 plan stays FP32.
    init(_ name: String, _ fp32: Convolution, _ precision: PlanPrecision, firstOfPlan: Bool = false, kept: inout [KeptInFP32]) {
        self.name = name
        var int8: QuantizedConvolution?
        if case let .int8(calibration) = precision {
            if firstOfPlan {
                // It reads the plain network input (3 channels: a few percent of the work).
                kept.append(KeptInFP32(layer: name, reason: "the first convolution, reading the network's input"))
            } else if let range = calibration.inputs[name] {
                int8 = QuantizedConvolution(fp32, input: range)
            } else {
                kept.append(KeptInFP32(layer: name, reason: "no calibrated range for its input"))
            }
        }
        kernel = int8.map { .int8($0) } ?? .fp32(fp32)
    }

    /// The same layer with other folded weights (the same input, so the same range).
    func replacing(_ folded: Convolution) -> PlanConvolution {
        PlanConvolution(name: name, fp32: folded, int8: int8.map { QuantizedConvolution(folded, input: $0.input) })
    }

    private init(name: String, fp32: Convolution, int8: QuantizedConvolution?) {
        self.name = name
        kernel = int8.map { .int8($0) } ?? .fp32(fp32)
    }

    /// As `Convolution.blocked`, in int8 where this layer is quantized.
    func blocked(
        _ x: BlockedTensor, activation: Activation = .identity, activationScale: Float = 1,
        accumulatingInto residual: BlockedTensor? = nil, after: Activation = .identity, _ observer: PlanObserver
    ) throws -> BlockedTensor {
        try observer.convolutionInput(name, x)
        switch kernel {
        case let .int8(int8):
            return try int8.blocked(
                x, activation: activation, activationScale: activationScale, accumulatingInto: residual, after: after)
        case let .fp32(fp32):
            return try fp32.blocked(x, activation: activation, activationScale: activationScale, accumulatingInto: residual, after: after)
        }
    }

    /// The first convolution of a plan, reading the plain input (always FP32).
    func blocked(plain x: Tensor, activation: Activation = .identity, activationScale: Float = 1, layout: PlanLayout) throws -> BlockedTensor {
        guard case let .fp32(fp32) = kernel else { throw TensorError("\(name): the first convolution of a plan is never quantized") }
        return try fp32.blocked(plain: x, activation: activation, activationScale: activationScale, layout: layout)
    }
}
