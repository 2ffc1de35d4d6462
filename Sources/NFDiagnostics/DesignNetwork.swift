import NFLayers
import NFModels
import NFTensors

/// The NF-ResNet paper's networks at initialization, exactly as docs/signal-propagation.md
/// ("Networks at initialization") and DeepMind's code build them:
///
///     stem: 7x7/2 conv (16 * width channels, no bias), 3x3/2 max-pool
///     stage s: output (64, 128, 256, 512)[s] * width, bottleneck output / 4, stride 1 then 2
///              (on the 3x3 conv of the stage's first block, which also has a 1x1 projection)
///
///     preact_resnet:  out = pre0(x); shortcut = proj(out) or x
///                     out = conv1x1(out); out = conv3x3(pre1(out)); out = conv1x1(pre2(out))
///                     return out + shortcut
///                     pre(t) = relu(bn(t)) or bn(relu(t)), BatchNorm on the batch's statistics
///     nf_resnet:      out = act(x) * beta; shortcut = proj(out) or x
///                     out = conv1x1(out); out = conv3x3(act(out)); out = conv1x1(act(out))
///                     return out * alpha + shortcut
///
/// Plain convs are He-initialized, N(0, 2 / fan_in); with weight standardization every conv is
/// DeepMind's WSConv2D (w ~ N(0, 1 / fan_in), standardized per output channel with
/// `(w - mean) / sqrt(max(var * fan_in, 1e-4))`, gain 1, bias 0) and `act = f(t) * gamma_f`.
///
/// Each conv's weights are drawn just before it runs and dropped after (conv k from stream k of
/// `RandomNormal` under `seed`), so a 600-layer network never holds more than one layer's
/// weights: memory is the activations'.
struct DesignNetwork {
    let design: NetworkDesign
    let seed: UInt64

    /// `design` must be `validated()`.
    init(design: NetworkDesign, seed: UInt64) {
        self.design = design
        self.seed = seed
    }

    var depths: [Int] { design.depths! }
    var isNormalizerFree: Bool { design.family == .nfResnet }
    var standardized: Bool { design.weightStandardization ?? false }

    /// The beta bookkeeping's expected variance at the stem (1) and after every block, for
    /// nf_resnet; nil for preact_resnet.
    var expectedVariances: [Double]? {
        guard isNormalizerFree, let alpha = design.alpha else { return nil }
        var expected = [1.0], variance = 1.0
        for depth in depths {
            for b in 0..<depth {
                if b == 0 { variance = 1 }
                variance += alpha * alpha
                expected.append(variance)
            }
        }
        return expected
    }

    /// Every convolution of one forward pass of `size` x `size` input, in order: its input and
    /// output channels, kernel side, and input and output sides.
    func convolutions(size: Int) -> [(inC: Int, outC: Int, k: Int, inSide: Int, outSide: Int)] {
        var convs: [(inC: Int, outC: Int, k: Int, inSide: Int, outSide: Int)] = []
        var side = (size + 1) / 2
        convs.append((3, design.stemChannels, 7, size, side))
        side = (side + 1) / 2
        var inC = design.stemChannels
        for (s, depth) in depths.enumerated() {
            let outC = design.stageChannels(s), mid = outC / 4
            for b in 0..<depth {
                let stride = b == 0 && s > 0 ? 2 : 1
                let outSide = (side + stride - 1) / stride
                if b == 0 { convs.append((inC, outC, 1, side, outSide)) }
                convs.append((inC, mid, 1, side, side))
                convs.append((mid, mid, 3, side, outSide))
                convs.append((mid, outC, 1, outSide, outSide))
                side = outSide
                inC = outC
            }
        }
        return convs
    }

    /// Floating-point operations of the convolutions of one forward pass (2 per MAC).
    func flops(batch: Int, size: Int) -> Double {
        convolutions(size: size).reduce(0) { total, c in total + 2 * Double(batch * c.inC * c.outC * c.k * c.k * c.outSide * c.outSide) }
    }

    /// Runs `input` `[N, 3, H, W]` through the network, showing its stem, branches and block
    /// outputs to `observer`. The logits are not computed: the network has no head.
    func run(_ input: Tensor, observer: any ForwardObserver) throws {
        let pass = DesignPass(design: design, seed: seed, observer: observer)
        try pass.run(input)
    }
}

/// One forward pass of a `DesignNetwork`: the conv counter that picks each conv's random stream.
private final class DesignPass {
    let design: NetworkDesign
    let seed: UInt64
    let context: ForwardContext
    private var stream: UInt64 = 0

    init(design: NetworkDesign, seed: UInt64, observer: any ForwardObserver) {
        self.design = design
        self.seed = seed
        // BatchNorm at initialization normalizes with the batch's own statistics.
        context = ForwardContext(observer: observer, batchStatistics: MomentsBatchStatistics())
    }

    var standardized: Bool { design.family == .nfResnet && design.weightStandardization! }

    func run(_ input: Tensor) throws {
        var x = try conv(input, 3, design.stemChannels, kernel: 7, stride: 2)
        x = maxPool2d(x, kernel: 3, stride: 2, padding: 1)
        context.observe(.stemOutput, x)
        var inC = design.stemChannels
        var index = 0
        var expectedStd = 1.0
        for (s, depth) in design.depths!.enumerated() {
            let outC = design.stageChannels(s)
            for b in 0..<depth {
                let position = BlockPosition(index: index, stage: s, name: "stages.\(s).\(b)")
                let stride = b == 0 && s > 0 ? 2 : 1
                let projection = b == 0
                switch design.family {
                case .preactResnet:
                    x = try preactBlock(x, position, inC: inC, outC: outC, stride: stride, projection: projection)
                case .nfResnet:
                    let beta = 1 / expectedStd
                    if b == 0 { expectedStd = 1 }
                    let alpha = design.alpha!
                    expectedStd = (expectedStd * expectedStd + alpha * alpha).squareRoot()
                    x = try nfBlock(
                        x, position, inC: inC, outC: outC, stride: stride, projection: projection,
                        beta: Float(beta), alpha: Float(alpha))
                }
                inC = outC
                index += 1
            }
        }
    }

    // MARK: preact_resnet

    private func pre(_ t: Tensor, _ name: String) throws -> Tensor {
        let bn = BatchNorm2d.initialized(name: name, channels: t.nchw.c)
        switch design.order! {
        case .bnReluConv:
            return try bn(t, context, relu: true)
        case .reluBnConv:
            var y = t
            Activation.relu.apply(&y)
            return try bn(y, context)
        }
    }

    private func preactBlock(
        _ x: Tensor, _ position: BlockPosition, inC: Int, outC: Int, stride: Int,
        projection: Bool
    ) throws -> Tensor {
        let mid = outC / 4
        var out = try pre(x, position.name + ".bn0")
        let shortcut = projection ? try conv(out, inC, outC, kernel: 1, stride: stride) : x
        out = try conv(out, inC, mid, kernel: 1)
        out = try conv(try pre(out, position.name + ".bn1"), mid, mid, kernel: 3, stride: stride)
        out = try conv(try pre(out, position.name + ".bn2"), mid, outC, kernel: 1)
        context.observe(.residualBranch(position), out)
        out.add(shortcut)
        context.observe(.blockOutput(position), out)
        return out
    }

    // MARK: nf_resnet

    private func act(_ t: inout Tensor, scale: Float = 1) {
        let activation = Activation(rawValue: design.activation!)!
        let gamma = standardized ? Float(NormFreeConfig.activationGamma[design.activation!]!) : 1
        activation.apply(&t, scale: gamma * scale)
    }

    private func nfBlock(
        _ x: Tensor, _ position: BlockPosition, inC: Int, outC: Int, stride: Int, projection: Bool,
        beta: Float, alpha: Float
    ) throws -> Tensor {
        let mid = outC / 4
        var out = x
        act(&out, scale: beta)
        let shortcut = projection ? try conv(out, inC, outC, kernel: 1, stride: stride) : x
        out = try conv(out, inC, mid, kernel: 1)
        act(&out)
        out = try conv(out, mid, mid, kernel: 3, stride: stride)
        act(&out)
        out = try conv(out, mid, outC, kernel: 1)
        context.observe(.residualBranch(position), out)
        out.add(shortcut, scalingSelfBy: alpha)
        context.observe(.blockOutput(position), out)
        return out
    }

    // MARK: convolutions

    /// A bias-free conv with fresh weights (He-normal, or DeepMind's WS), run once.
    private func conv(_ x: Tensor, _ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1) throws -> Tensor {
        stream += 1
        let fanIn = inC * kernel * kernel
        let shape = [outC, inC, kernel, kernel]
        var weight = RandomNormal.tensor(
            shape: shape, std: ((standardized ? 1.0 : 2.0) / Double(fanIn)).squareRoot(),
            seed: seed, stream: stream)
        if standardized { weight = deepMindStandardized(weight) }
        let geometry = ConvolutionGeometry(
            inChannels: inC, outChannels: outC, kernel: kernel, stride: stride,
            padding: .symmetric(kernel / 2, kernel / 2))
        return try Convolution(geometry: geometry, weight: weight, bias: nil)(x)
    }
}

/// DeepMind's WSConv2D weight (nfnets/base.py): per output channel, over its fan-in,
/// `(w - mean) * rsqrt(max(var * fan_in, 1e-4))` with the biased variance and gain 1.
func deepMindStandardized(_ weight: Tensor) -> Tensor {
    let out = weight.shape[0], fanIn = weight.count / out
    var result = weight
    result.storage.withUnsafeMutableBufferPointer { w in
        for o in 0..<out {
            let range = (o * fanIn)..<((o + 1) * fanIn)
            var sum = 0.0
            for i in range { sum += Double(w[i]) }
            let mean = sum / Double(fanIn)
            var squares = 0.0
            for i in range {
                let d = Double(w[i]) - mean
                squares += d * d
            }
            let scale = 1 / Swift.max(squares / Double(fanIn) * Double(fanIn), 1e-4).squareRoot()
            for i in range { w[i] = Float((Double(w[i]) - mean) * scale) }
        }
    }
    return result
}
