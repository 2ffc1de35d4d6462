import NFLayers
import NFTensors

/// A convolution as a plan runs it, at the plan's precision: the FP32 `Convolution` (weights
/// with what surrounds them folded in); in a bf16 plan its `BFloat16Convolution`; in an int8
/// plan its `QuantizedConvolution` where the calibration has a range for its input (the FP32
/// weights are then not kept). Shows its input to a calibrating observer first.
struct PlanConvolution: Sendable {
    let name: String
    private enum Kernel {
        case fp32(Convolution)
        case bf16(BFloat16Convolution)
        case int8(QuantizedConvolution)
    }
    private let kernel: Kernel

    var int8: QuantizedConvolution? {
        if case let .int8(quantized) = kernel { return quantized }
        return nil
    }

    /// What it reads without converting (`PlanElement`): a convolution whose output only this one
    /// reads may write it so.
    var inputElement: PlanElement {
        switch kernel {
        case .fp32: .f32
        case .bf16: .bf16
        case let .int8(int8): int8.inputElement
        }
    }

    /// `fp32` at `precision`; `kept` collects why a convolution of a bf16 or int8 plan stays FP32.
    /// An int8 plan's first convolution is quantized too where the calibration has the range of
    /// the network's input (calibrations made before it recorded one keep it FP32).
    init(_ name: String, _ fp32: Convolution, _ precision: PlanPrecision, firstOfPlan: Bool = false, kept: inout [KeptInFP32]) {
        self.name = name
        switch precision {
        case .fp32:
            kernel = .fp32(fp32)
        case .bf16 where firstOfPlan:
            // It reads the plain network input (3 channels: a few percent of the work).
            kept.append(KeptInFP32(layer: name, reason: "the first convolution, reading the network's input"))
            kernel = .fp32(fp32)
        case .bf16:
            kernel = .bf16(BFloat16Convolution(fp32))
        case let .int8(calibration):
            if let range = calibration.inputs[name] {
                kernel = .int8(QuantizedConvolution(fp32, input: range))
            } else {
                kept.append(KeptInFP32(layer: name, reason: "no calibrated range for its input"))
                kernel = .fp32(fp32)
            }
        }
    }

    /// The same layer with other folded weights (the same input, so the same range).
    func replacing(_ folded: Convolution) -> PlanConvolution {
        switch kernel {
        case .fp32: PlanConvolution(name: name, kernel: .fp32(folded))
        case .bf16: PlanConvolution(name: name, kernel: .bf16(BFloat16Convolution(folded)))
        case let .int8(int8): PlanConvolution(name: name, kernel: .int8(QuantizedConvolution(folded, input: int8.input)))
        }
    }

    private init(name: String, kernel: Kernel) {
        self.name = name
        self.kernel = kernel
    }

    /// As `Convolution.blocked`, in bf16 or int8 where this layer runs so. `next`: the
    /// convolution that alone reads the result, if any: where this one runs at the same
    /// precision (and no observer reads convolution inputs), it writes the result in `next`'s
    /// input element, sparing `next` its conversion; else FP32.
    func blocked(
        _ x: BlockedTensor, activation: Activation = .identity, activationScale: Float = 1,
        accumulatingInto residual: BlockedTensor? = nil, after: Activation = .identity, next: PlanConvolution? = nil,
        _ observer: PlanObserver
    ) throws -> BlockedTensor {
        try observer.convolutionInput(name, x)
        // A quantized residual (an int8 ResNet's residual stream) is overwritten with the sum in
        // `next`'s input element; an FP32 one with FP32.
        let handOver: PlanElement
        if let residual, residual.element != .f32 {
            handOver = next?.inputElement ?? .f32
        } else {
            handOver = residual == nil && !observer.convolutionInputs ? next?.inputElement ?? .f32 : .f32
        }
        switch kernel {
        case let .int8(int8):
            let output: PlanElement
            switch handOver {
            case .u8, .s8: output = handOver
            case .f32, .bf16: output = .f32
            }
            return try int8.blocked(
                x, activation: activation, activationScale: activationScale, accumulatingInto: residual, after: after,
                output: output)
        case let .bf16(bf16):
            return try bf16.blocked(
                x, activation: activation, activationScale: activationScale, accumulatingInto: residual, after: after,
                output: handOver == .bf16 ? .bf16 : .f32)
        case let .fp32(fp32):
            return try fp32.blocked(x, activation: activation, activationScale: activationScale, accumulatingInto: residual, after: after)
        }
    }

    /// The first convolution of a plan, reading the plain input: FP32, or int8 where its range was
    /// calibrated (shown to a calibrating observer first, in the plan's layout). `next`: as in
    /// `blocked(_:...)`, for an int8 one.
    func blocked(
        plain x: Tensor, activation: Activation = .identity, activationScale: Float = 1, layout: PlanLayout,
        next: PlanConvolution? = nil, _ observer: PlanObserver
    ) throws -> BlockedTensor {
        if observer.convolutionInputs { try observer.convolutionInput(name, try BlockedTensor(x, layout: layout)) }
        switch kernel {
        case let .fp32(fp32): return try fp32.blocked(plain: x, activation: activation, activationScale: activationScale, layout: layout)
        case let .int8(int8):
            var output = observer.convolutionInputs ? PlanElement.f32 : next?.inputElement ?? .f32
            if output == .bf16 { output = .f32 }
            return try int8.blocked(plain: x, activation: activation, activationScale: activationScale, output: output)
        case .bf16: throw TensorError("\(name): the first convolution of a bf16 plan runs in FP32")
        }
    }
}
