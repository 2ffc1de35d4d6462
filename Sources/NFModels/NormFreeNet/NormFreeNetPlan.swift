import NFLayers
import NFTensors

/// timm's NormFreeNet as an execution plan (`ExecutionPlan`). The weight-standardized
/// convolutions were computed once at load; here every activation that follows a convolution is
/// its post-op, each constant scale is folded into the weights of the convolution it feeds
/// (beta and gamma into conv1 and the shortcut's conv; alpha and the skip gain into conv3),
/// and the residual add is conv3's sum post-op, or joins channel attention's gate in one pass.
/// A normalizer-free network has no normalization input to observe: every pass is fused.
struct NormFreeNetPlan: ExecutionPlan {
    struct Block: Sendable {
        let poolStride: Int?
        /// The shortcut's conv, with the pre-activation's scale folded in.
        let downsample: Convolution?
        let conv1: Convolution, conv2: Convolution, conv2b: Convolution?, conv3: Convolution
        let attn: NormFreeAttention?, attnLast: NormFreeAttention?
        /// What multiplies attention's gate: attn_gain, and for attn_last also alpha and the skip gain.
        let attnScale: Float, attnLastScale: Float
    }

    let activation: Activation
    let activationScale: Float
    let stemConvs: [Convolution]
    let stemPool: Bool
    let blocks: [Block]
    let finalConv: Convolution?
    let fc: Linear

    init(_ model: NormFreeNet) {
        activation = model.activation
        activationScale = model.activationScale
        stemConvs = model.stemConvs.map(\.convolution)
        stemPool = model.stemPool
        blocks = model.blocks.map { b in
            let preScale = b.activationScale * b.beta
            let residualScale = (b.skipinitGain ?? 1) * b.alpha
            return Block(
                poolStride: b.downsample?.poolStride,
                downsample: b.downsample.map { foldedConvolution($0.conv.convolution, inputScale: preScale) },
                conv1: foldedConvolution(b.conv1.convolution, inputScale: preScale),
                conv2: b.conv2.convolution, conv2b: b.conv2b?.convolution,
                // conv3's input is act(...) * activationScale; where attention sits before that
                // activation, the scale cannot be a post-op and is folded into conv3 instead.
                conv3: foldedConvolution(b.conv3.convolution, outputScale: b.attnLast == nil ? residualScale : 1,
                                         inputScale: b.attn != nil ? b.activationScale : 1),
                attn: b.attn, attnLast: b.attnLast,
                attnScale: b.attnGain, attnLastScale: b.attnGain * residualScale)
        }
        finalConv = model.finalConv?.convolution
        fc = model.fc
    }

    func logits(_ input: Tensor, observer: (any ForwardObserver)?) throws -> Tensor {
        // stem: conv, then (act * scale, conv) for each further conv
        var x = try stemConvs[0].blocked(plain: input, activation: stemConvs.count > 1 ? activation : .identity,
                                         activationScale: activationScale)
        for (i, conv) in stemConvs.enumerated().dropFirst() {
            let last = i == stemConvs.count - 1
            x = try conv.blocked(x, activation: last ? .identity : activation, activationScale: last ? 1 : activationScale)
        }
        if stemPool { x = try BlockedOperations.pool(x, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false) }
        // Where nothing reads a block's output unactivated (the next block projects its shortcut
        // from the activation; or final_act follows), the activation is conv3's post-op after the sum.
        var activated = false
        for (i, block) in blocks.enumerated() {
            let next = i + 1 < blocks.count ? blocks[i + 1] : nil
            let fuse = block.attnLast == nil && (next.map { $0.downsample != nil } ?? (finalConv == nil))
            x = try run(block, x, activated: activated, activateOutput: fuse)
            activated = fuse
        }
        // final_act (its scale applied after the average, which is linear)
        if let finalConv {
            x = try finalConv.blocked(x, activation: activation, activationScale: activationScale)
        } else if !activated {
            x = try BlockedOperations.activation(activation, x, inPlace: true)
        }
        var pooled = try BlockedOperations.globalAveragePool(x)
        if finalConv == nil { pooled.scale(by: activationScale) }
        return try fc.layer(pooled)
    }

    /// One block; `activated`: `x` is already `act(x)` (only where the block projects its
    /// shortcut from it); `activateOutput`: return `act(output)` instead of the output.
    private func run(_ b: Block, _ x: BlockedTensor, activated: Bool, activateOutput: Bool) throws -> BlockedTensor {
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
            shortcut = try downsample.blocked(pooled)
        }
        var out = try b.conv1.blocked(pre, activation: activation, activationScale: activationScale)
        // conv2 [act, conv2b]; the activation before conv3 is a post-op unless attention comes first.
        let actBeforeConv3 = b.attn == nil
        if let conv2b = b.conv2b {
            out = try b.conv2.blocked(out, activation: activation, activationScale: activationScale)
            out = try conv2b.blocked(out, activation: actBeforeConv3 ? activation : .identity,
                                     activationScale: actBeforeConv3 ? activationScale : 1)
        } else {
            out = try b.conv2.blocked(out, activation: actBeforeConv3 ? activation : .identity,
                                      activationScale: actBeforeConv3 ? activationScale : 1)
        }
        if let attn = b.attn {
            var gate = try attn.gate(pooled: BlockedOperations.globalAveragePool(out))
            gate.scale(by: b.attnScale)
            BlockedOperations.gate(out, by: gate, adding: nil)
            out = try BlockedOperations.activation(activation, out, inPlace: true)  // its scale is in conv3
        }
        guard let attnLast = b.attnLast else {
            // out * alpha * skip_gain + shortcut: the scale in conv3's weights, the sum its post-op
            // (written into the shortcut, or into the block's input, which nothing reads after).
            return try b.conv3.blocked(out, accumulatingInto: shortcut, after: activateOutput ? activation : .identity)
        }
        precondition(!activateOutput, "attention's gate joins the residual add: no activation after it")
        out = try b.conv3.blocked(out)
        var gate = try attnLast.gate(pooled: BlockedOperations.globalAveragePool(out))
        gate.scale(by: b.attnLastScale)
        BlockedOperations.gate(out, by: gate, adding: shortcut)
        return out
    }
}
