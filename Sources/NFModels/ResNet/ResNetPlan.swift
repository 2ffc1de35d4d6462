import NFLayers
import NFTensors

/// A convolution and the normalization after it, as a plan runs them: one convolution with the
/// BatchNorm folded in and ReLU (or the residual add and ReLU) fused, unless its input is
/// observed; then the convolution, the observation, and the BatchNorm as a step of its own.
/// GroupNorm (XBNBlock) has no oneDNN primitive here: it runs on the plain layout, in between.
struct ConvNormStep: Sendable {
    let conv: Conv2d
    let norm: Normalization2d
    /// The convolution with the BatchNorm folded in, at the plan's precision; nil for GroupNorm.
    let folded: PlanConvolution?
    /// The convolution alone: observed passes (FP32), and GroupNorm's (at the plan's precision).
    let unfolded: PlanConvolution
    let batchNorm: BlockedBatchNorm?

    init(conv: Conv2d, norm: Normalization2d, precision: PlanPrecision, first: Bool, kept: inout [KeptInFP32]) {
        self.conv = conv
        self.norm = norm
        if case let .batch(bn) = norm {
            folded = PlanConvolution(
                conv.name, foldedConvolution(conv.convolution, multiplier: bn.multiplier, addend: bn.addend), precision,
                firstOfPlan: first, kept: &kept)
            var none: [KeptInFP32] = []
            unfolded = PlanConvolution(conv.name, conv.convolution, .fp32, kept: &none)
            batchNorm = BlockedBatchNorm(
                mean: bn.runningMean, variance: bn.runningVar, scale: bn.weight,
                shift: bn.bias, eps: bn.eps)
        } else {
            folded = nil
            unfolded = PlanConvolution(conv.name, conv.convolution, precision, firstOfPlan: first, kept: &kept)
            batchNorm = nil
        }
    }

    enum Source {
        case plain(Tensor)
        case blocked(BlockedTensor)
    }

    /// `relu(norm(conv(x)) [+ residual])`; with a residual the sum is written into it. Observed
    /// passes add the residual apart (`residual` must then be nil), so that the inputs are
    /// observed in the order the layers reach them. `next`: the step that alone reads the result
    /// (its convolution may then be handed it in its own input element, `PlanConvolution`).
    func callAsFunction(
        _ x: Source, relu: Bool, residual: BlockedTensor? = nil, next: ConvNormStep? = nil, layout: PlanLayout,
        _ observer: PlanObserver
    ) throws -> BlockedTensor {
        if case .blocked = x { observer.boundary() }
        func run(
            _ conv: PlanConvolution, activation: Activation, sum: BlockedTensor?, after: Activation, next: PlanConvolution? = nil
        ) throws -> BlockedTensor {
            switch x {
            case let .plain(t): return try conv.blocked(plain: t, activation: activation, layout: layout, next: next, observer)
            case let .blocked(b):
                return try conv.blocked(b, activation: activation, accumulatingInto: sum, after: after, next: next, observer)
            }
        }
        if let folded, !observer.normalizationInputs {
            return try run(
                folded, activation: residual == nil && relu ? .relu : .identity, sum: residual,
                after: residual != nil && relu ? .relu : .identity, next: next?.folded)
        }
        precondition(residual == nil || !observer.normalizationInputs, "an observed pass adds the residual apart")
        let y = try run(unfolded, activation: .identity, sum: nil, after: .identity)
        try observer.normalizationInput(norm.name, y)
        var normalized: BlockedTensor
        if let batchNorm {
            normalized = try batchNorm(y, relu: relu && residual == nil)
        } else {
            // GroupNorm on the plain layout (the layer's own code), with the observation done above.
            let plain = try norm(try y.plain(), ForwardContext(), relu: relu && residual == nil)
            normalized = try BlockedTensor(plain, layout: y.layout)
        }
        if let residual { normalized = try BlockedOperations.add(normalized, residual, relu: relu) }
        return normalized
    }
}

/// timm's ResNet (and the XBNBlock variants) as an execution plan (`ExecutionPlan`).
struct ResNetPlan: ExecutionPlan {
    struct Block: Sendable {
        let position: BlockPosition
        let steps: [ConvNormStep]
        let poolStride: Int?
        let downsample: ConvNormStep?
    }

    let stem: [ConvNormStep]
    let blocks: [Block]
    let fc: Linear
    let layout: PlanLayout
    let keptInFP32: [KeptInFP32]

    init(_ model: ResNet, precision: PlanPrecision = .fp32) {
        var kept: [KeptInFP32] = []
        stem = zip(model.stemConvs, model.stemNorms).enumerated().map {
            ConvNormStep(conv: $1.0, norm: $1.1, precision: precision, first: $0 == 0, kept: &kept)
        }
        blocks = model.blocks.map { block in
            // In the order the pass reaches them: the branch's convolutions, then the shortcut's.
            let steps = zip(block.convs, block.norms).map {
                ConvNormStep(conv: $0, norm: $1, precision: precision, first: false, kept: &kept)
            }
            return Block(
                position: block.position, steps: steps,
                poolStride: block.downsample?.poolStride,
                downsample: block.downsample.map {
                    ConvNormStep(conv: $0.conv, norm: $0.norm, precision: precision, first: false, kept: &kept)
                })
        }
        fc = model.fc
        layout = precision.layout
        keptInFP32 = kept
    }

    func logits(_ input: Tensor, observer: (any ForwardObserver)?, stepBoundary: (() -> Void)?) throws -> Tensor {
        let observer = PlanObserver(observer: observer, stepBoundary: stepBoundary)
        // In an int8 plan the stem's last convolution writes the first block's input element:
        // max pooling commutes with quantization (a monotone rounding), so it pools the levels.
        let observed = observer.readsActivations
        let afterStem = observed ? nil : blocks.first.flatMap { quantizedInput($0) == nil ? nil : $0.steps[0] }
        var x = try stem[0](.plain(input), relu: true, next: stem.count > 1 ? stem[1] : afterStem, layout: layout, observer)
        for (i, step) in stem.enumerated().dropFirst() {
            x = try step(.blocked(x), relu: true, next: i + 1 < stem.count ? stem[i + 1] : afterStem, layout: layout, observer)
        }
        x = try BlockedOperations.pool(x, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false)
        try observer.block(.stemOutput, x)
        for (i, block) in blocks.enumerated() { x = try run(block, x, next: i + 1 < blocks.count ? blocks[i + 1] : nil, observer) }
        return try fc.layer(BlockedOperations.globalAveragePool(x))
    }

    // The int8 residual stream. In an int8 plan, a block without projection adds its input as
    // its first convolution reads it: quantized with that convolution's step (ONNX Runtime's
    // QDQ graphs do the same: the Add reads the DequantizeLinear output that feeds the first
    // convolution). The block quantizes its input once for both (or gets it quantized from the
    // block before), and its last convolution adds it in its fused sum and writes the block's
    // output already quantized for the next block, which spares FP32 activations between
    // blocks. Observed passes compute the same sum in FP32 (`quantizedShortcut`).

    /// The int8 convolution whose input element the block's input is read in, where every step
    /// that reads that input reads it so: the first convolution, and the projection (without
    /// pooling) or the residual sum.
    private func quantizedInput(_ block: Block) -> QuantizedConvolution? {
        guard let first = block.steps[0].folded?.int8 else { return nil }
        guard let downsample = block.downsample else { return first }
        return block.poolStride == nil && downsample.folded?.int8?.inputElement == first.inputElement ? first : nil
    }

    /// What the block's last convolution writes for `next`: its input element where the block's
    /// residual is already in that type (a block without projection, its last convolution int8),
    /// else FP32.
    private func outputElement(_ block: Block, next: Block?) -> PlanElement {
        guard block.downsample == nil, let residual = quantizedInput(block), block.steps.last?.folded?.int8 != nil,
            let next, let wanted = quantizedInput(next)?.inputElement
        else { return .f32 }
        switch (residual.inputElement, wanted) {
        case (.u8, .u8), (.s8, .s8): return wanted
        default: return .f32
        }
    }

    /// The shortcut of a block without projection in FP32: its input, quantized and back where
    /// its first convolution is int8.
    private func quantizedShortcut(_ block: Block, _ x: BlockedTensor) throws -> BlockedTensor {
        guard x.element == .f32, let first = quantizedInput(block) else { return try BlockedOperations.dequantized(x) }
        return try BlockedOperations.dequantized(first.quantized(x))
    }

    private func run(_ block: Block, _ input: BlockedTensor, next: Block?, _ observer: PlanObserver) throws -> BlockedTensor {
        let observed = observer.readsActivations
        var x = input
        if !observed, x.element == .f32, let first = quantizedInput(block) { x = try first.quantized(x) }
        var y = x
        for (i, step) in block.steps.enumerated().dropLast() {
            y = try step(.blocked(y), relu: true, next: block.steps[i + 1], layout: layout, observer)
        }
        func shortcut() throws -> BlockedTensor {
            guard let downsample = block.downsample else { return x }
            var s = x
            if let stride = block.poolStride {
                s = try BlockedOperations.pool(x, kernel: 2, stride: stride, padding: 0, ceilMode: true, average: true)
            }
            return try downsample(.blocked(s), relu: false, layout: layout, observer)
        }
        let last = block.steps[block.steps.count - 1]
        if observer.normalizationInputs || observer.blocks {
            // In the layers' order: the branch, the shortcut's BatchNorm input, the sum, then ReLU.
            let branch = try last(.blocked(y), relu: false, layout: layout, observer)
            try observer.block(.residualBranch(block.position), branch)
            let residual = block.downsample == nil ? try quantizedShortcut(block, x) : try shortcut()
            guard observer.blocks else { return try BlockedOperations.add(branch, residual, relu: true) }
            let sum = try BlockedOperations.add(branch, residual, relu: false)
            try observer.block(.blockOutput(block.position), sum)
            return try BlockedOperations.activation(.relu, sum, inPlace: true)
        }
        // The sum is written into the shortcut: the block's input when there is no projection,
        // which nothing reads after this block.
        let output = observed ? .f32 : outputElement(block, next: next)
        var residual = try shortcut()
        if output == .f32 { residual = block.downsample == nil ? try quantizedShortcut(block, residual) : residual }
        return try last(.blocked(y), relu: true, residual: residual, next: output == .f32 ? nil : next?.steps[0], layout: layout, observer)
    }
}
