import NFLayers
import NFTensors
import Synchronization

/// timm's NormFreeNet as an execution plan (`ExecutionPlan`). The weight-standardized
/// convolutions were computed once at load; here every activation that follows a convolution is
/// its post-op, each constant scale is folded into the weights of the convolution it feeds
/// (beta and gamma into conv1 and the shortcut's conv; alpha and the skip gain into conv3),
/// and the residual add is conv3's sum post-op, or joins channel attention's gate in one pass.
/// A normalizer-free network has no normalization input to observe; an observer of the blocks
/// (the signal-propagation plot) gets each residual branch before its scale and each block's sum
/// before any activation, from steps kept apart for it.
struct NormFreeNetPlan: ExecutionPlan {
    struct Block: Sendable {
        let position: BlockPosition
        let poolStride: Int?
        /// The shortcut's conv, with the pre-activation's scale folded in.
        let downsample: PlanConvolution?
        let conv1: PlanConvolution, conv2: PlanConvolution, conv2b: PlanConvolution?, conv3: PlanConvolution
        let attn: NormFreeAttention?, attnLast: NormFreeAttention?
        /// What multiplies attention's gate: attn_gain, and for attn_last also alpha and the skip gain.
        let attnScale: Float, attnLastScale: Float
        /// alpha x the skip gain, which multiplies the residual branch before the add.
        let residualScale: Float
        /// conv3 without alpha and the skip gain, for observed passes (made at their first use).
        let conv3Branch: FoldedOnDemand
    }

    let activation: Activation
    let activationScale: Float
    let stemConvs: [PlanConvolution]
    let stemPool: Bool
    let blocks: [Block]
    let finalConv: PlanConvolution?
    let fc: Linear
    let layout: PlanLayout
    let keptInFP32: [KeptInFP32]

    init(_ model: NormFreeNet, precision: PlanPrecision = .fp32) {
        var kept: [KeptInFP32] = []
        func planned(_ conv: Conv2d, _ folded: Convolution? = nil, first: Bool = false) -> PlanConvolution {
            PlanConvolution(conv.name, folded ?? conv.convolution, precision, firstOfPlan: first, kept: &kept)
        }
        activation = model.activation
        activationScale = model.activationScale
        stemConvs = model.stemConvs.enumerated().map { planned($1, first: $0 == 0) }
        stemPool = model.stemPool
        blocks = model.blocks.map { b in
            let preScale = b.activationScale * b.beta
            let residualScale = (b.skipinitGain ?? 1) * b.alpha
            let conv3 = b.conv3.convolution, conv3InputScale = b.attn != nil ? b.activationScale : 1
            // In the order the pass reaches them: the shortcut's convolution, then the branch's.
            let downsample = b.downsample.map { planned($0.conv, foldedConvolution($0.conv.convolution, inputScale: preScale)) }
            let conv1 = planned(b.conv1, foldedConvolution(b.conv1.convolution, inputScale: preScale))
            let conv2 = planned(b.conv2), conv2b = b.conv2b.map { planned($0) }
            // conv3's input is act(...) * activationScale; where attention sits before that
            // activation, the scale cannot be a post-op and is folded into conv3 instead.
            let planned3 = planned(
                b.conv3, foldedConvolution(conv3, outputScale: b.attnLast == nil ? residualScale : 1, inputScale: conv3InputScale))
            return Block(
                position: b.position,
                poolStride: b.downsample?.poolStride,
                downsample: downsample, conv1: conv1, conv2: conv2, conv2b: conv2b, conv3: planned3,
                attn: b.attn, attnLast: b.attnLast,
                attnScale: b.attnGain, attnLastScale: b.attnGain * residualScale,
                residualScale: residualScale,
                conv3Branch: FoldedOnDemand { planned3.replacing(foldedConvolution(conv3, inputScale: conv3InputScale)) })
        }
        finalConv = model.finalConv.map { planned($0) }
        fc = model.fc
        layout = precision.layout
        keptInFP32 = kept
    }

    func logits(_ input: Tensor, observer: (any ForwardObserver)?, stepBoundary: (() -> Void)?) throws -> Tensor {
        let observer = PlanObserver(observer: observer, stepBoundary: stepBoundary)
        // stem: conv, then (act * scale, conv) for each further conv
        var x = try stemConvs[0].blocked(
            plain: input, activation: stemConvs.count > 1 ? activation : .identity,
            activationScale: activationScale, layout: layout, observer)
        for (i, conv) in stemConvs.enumerated().dropFirst() {
            let last = i == stemConvs.count - 1
            observer.boundary()
            x = try conv.blocked(
                x, activation: last ? .identity : activation, activationScale: last ? 1 : activationScale,
                next: last ? nil : stemConvs[i + 1], observer)
        }
        if stemPool { x = try BlockedOperations.pool(x, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false) }
        try observer.block(.stemOutput, x)
        // Where nothing reads a block's output unactivated (the next block projects its shortcut
        // from the activation; or final_act follows), the activation is conv3's post-op after the sum.
        var activated = false
        for (i, block) in blocks.enumerated() {
            let next = i + 1 < blocks.count ? blocks[i + 1] : nil
            let fuse = !observer.blocks && block.attnLast == nil && (next.map { $0.downsample != nil } ?? (finalConv == nil))
            x = try run(block, x, activated: activated, activateOutput: fuse, observer)
            activated = fuse
        }
        // final_act (its scale applied after the average, which is linear)
        if let finalConv {
            observer.boundary()
            x = try finalConv.blocked(x, activation: activation, activationScale: activationScale, observer)
        } else if !activated {
            x = try BlockedOperations.activation(activation, x, inPlace: true)
        }
        var pooled = try BlockedOperations.globalAveragePool(x)
        if finalConv == nil { pooled.scale(by: activationScale) }
        return try fc.layer(pooled)
    }

    /// One block; `activated`: `x` is already `act(x)` (only where the block projects its
    /// shortcut from it); `activateOutput`: return `act(output)` instead of the output.
    private func run(
        _ b: Block, _ x: BlockedTensor, activated: Bool, activateOutput: Bool,
        _ observer: PlanObserver
    ) throws -> BlockedTensor {
        // out = act(x) * activationScale * beta: the scale lives in conv1 and the shortcut's conv.
        // With a projected shortcut nothing reads x itself afterwards: activated in place.
        precondition(!activated || b.downsample != nil, "the identity shortcut needs the block's input unactivated")
        let pre = activated ? x : try BlockedOperations.activation(activation, x, inPlace: b.downsample != nil)
        var shortcut = x
        if let downsample = b.downsample {
            var pooled = pre
            if let s = b.poolStride {
                pooled = try BlockedOperations.pool(pre, kernel: 2, stride: s, padding: 0, ceilMode: true, average: true)
            }
            observer.boundary()
            shortcut = try downsample.blocked(pooled, observer)
        }
        // conv3 as this pass runs it: an observer of the blocks sees the branch before alpha
        // and the skip gain.
        let conv3 = observer.blocks && b.attnLast == nil ? b.conv3Branch.convolution : b.conv3
        // conv2 [act, conv2b]; the activation before conv3 is a post-op unless attention comes
        // first. Each convolution hands its output to the next one (`PlanConvolution`), but to
        // conv3 only without attention in between.
        let actBeforeConv3 = b.attn == nil
        observer.boundary()
        var out = try b.conv1.blocked(pre, activation: activation, activationScale: activationScale, next: b.conv2, observer)
        if let conv2b = b.conv2b {
            observer.boundary()
            out = try b.conv2.blocked(out, activation: activation, activationScale: activationScale, next: conv2b, observer)
            observer.boundary()
            out = try conv2b.blocked(
                out, activation: actBeforeConv3 ? activation : .identity,
                activationScale: actBeforeConv3 ? activationScale : 1, next: actBeforeConv3 ? conv3 : nil, observer)
        } else {
            observer.boundary()
            out = try b.conv2.blocked(
                out, activation: actBeforeConv3 ? activation : .identity,
                activationScale: actBeforeConv3 ? activationScale : 1, next: actBeforeConv3 ? conv3 : nil, observer)
        }
        if let attn = b.attn {
            var gate = try attn.gate(pooled: BlockedOperations.globalAveragePool(out))
            gate.scale(by: b.attnScale)
            BlockedOperations.gate(out, by: gate, adding: nil)
            out = try BlockedOperations.activation(activation, out, inPlace: true)  // its scale is in conv3
        }
        if observer.blocks {
            // The branch as the layers show it (after attn_last x attn_gain, before alpha and the
            // skip gain), then out = branch * alpha * skip_gain + shortcut, shown before any activation.
            observer.boundary()
            let branch = try conv3.blocked(out, observer)
            if let attnLast = b.attnLast {
                var gate = try attnLast.gate(pooled: BlockedOperations.globalAveragePool(branch))
                gate.scale(by: b.attnScale)
                BlockedOperations.gate(branch, by: gate, adding: nil)
            }
            try observer.block(.residualBranch(b.position), branch)
            let scale = Tensor(shape: [branch.n, branch.c], storage: [Float](repeating: b.residualScale, count: branch.n * branch.c))
            BlockedOperations.gate(branch, by: scale, adding: shortcut)  // the sum, written over the branch
            try observer.block(.blockOutput(b.position), branch)
            return branch
        }
        guard let attnLast = b.attnLast else {
            // out * alpha * skip_gain + shortcut: the scale in conv3's weights, the sum its post-op
            // (written into the shortcut, or into the block's input, which nothing reads after).
            observer.boundary()
            return try b.conv3.blocked(out, accumulatingInto: shortcut, after: activateOutput ? activation : .identity, observer)
        }
        precondition(!activateOutput, "attention's gate joins the residual add: no activation after it")
        observer.boundary()
        out = try b.conv3.blocked(out, observer)
        var gate = try attnLast.gate(pooled: BlockedOperations.globalAveragePool(out))
        gate.scale(by: b.attnLastScale)
        BlockedOperations.gate(out, by: gate, adding: shortcut)
        return out
    }
}

/// A convolution folded at its first use (by observed passes only), then kept.
final class FoldedOnDemand: Sendable {
    private let make: @Sendable () -> PlanConvolution
    private let made = Mutex<PlanConvolution?>(nil)

    init(_ make: @escaping @Sendable () -> PlanConvolution) { self.make = make }

    var convolution: PlanConvolution {
        made.withLock { made in
            if let made { return made }
            let convolution = make()
            made = convolution
            return convolution
        }
    }
}
