import Testing

@testable import NFTensors

/// The execution plan's steps on the blocked layout against the plain kernels the layers run
/// (which are themselves tested against hand-computed references): odd channel counts (padded
/// to 16), odd sizes, ceil mode, every activation, fused post-ops.
@Suite struct BlockedOperationsTests {
    var rng = TestRandom(seed: 7)

    func close(_ a: Tensor, _ b: Tensor, _ what: String, tolerance: Float = 1e-5) {
        #expect(a.shape == b.shape, "\(what): \(a.shape) vs \(b.shape)")
        if a.shape == b.shape { #expect(a.maxAbsDifference(b) <= tolerance * max(1, b.maxAbs), "\(what): \(a.maxAbsDifference(b))") }
    }

    @Test mutating func reordersRoundTrip() throws {
        for shape in [[2, 3, 5, 7], [1, 16, 4, 4], [3, 37, 2, 9]] {
            let x = rng.tensor(shape)
            #expect(try BlockedTensor(x).plain() == x)
        }
    }

    @Test mutating func poolingMatchesThePlainKernels() throws {
        let x = rng.tensor([2, 20, 9, 11])
        let b = try BlockedTensor(x)
        close(
            try BlockedOperations.pool(b, kernel: 3, stride: 2, padding: 1, ceilMode: false, average: false).plain(),
            maxPool2d(x, kernel: 3, stride: 2, padding: 1), "max pool")
        close(
            try BlockedOperations.pool(b, kernel: 2, stride: 2, padding: 0, ceilMode: true, average: true).plain(),
            avgPool2d(x, kernel: 2, stride: 2, ceilMode: true, countIncludePad: false), "avg pool, ceil mode")
        close(try BlockedOperations.globalAveragePool(b), globalAveragePool(x), "global average")
    }

    @Test mutating func activationsAddAndGate() throws {
        let x = rng.tensor([2, 21, 5, 3]), y = rng.tensor([2, 21, 5, 3])
        for activation in Activation.allCases {
            var expected = x
            activation.apply(&expected)
            close(try BlockedOperations.activation(activation, try BlockedTensor(x)).plain(), expected, "\(activation)")
        }
        for relu in [false, true] {
            var expected = x
            expected.add(y, relu: relu)
            close(try BlockedOperations.add(try BlockedTensor(x), try BlockedTensor(y), relu: relu).plain(), expected, "add relu=\(relu)")
        }
        let gate = rng.tensor([2, 21])
        var gated = x
        gated.multiplyChannels(by: gate)
        let b = try BlockedTensor(x)
        BlockedOperations.gate(b, by: gate, adding: nil)
        close(try b.plain(), gated, "gate")
        var joined = gated
        joined.add(y)
        let c = try BlockedTensor(x)
        BlockedOperations.gate(c, by: gate, adding: try BlockedTensor(y))
        close(try c.plain(), joined, "gate and residual add")
    }

    @Test mutating func batchNormMatchesTheChannelAffineMap() throws {
        let x = rng.tensor([2, 19, 4, 6])
        let c = 19
        let mean = (0..<c).map { _ in rng.next() }, variance = (0..<c).map { _ in rng.next() + 1.5 }
        let scale = (0..<c).map { _ in rng.next() }, shift = (0..<c).map { _ in rng.next() }
        let eps: Float = 1e-5
        let bn = BlockedBatchNorm(mean: mean, variance: variance, scale: scale, shift: shift, eps: eps)
        for relu in [false, true] {
            var expected = x
            let mul = (0..<c).map { scale[$0] / (variance[$0] + eps).squareRoot() }
            expected.channelAffine(multiplier: mul, addend: (0..<c).map { shift[$0] - mean[$0] * mul[$0] }, relu: relu)
            close(try bn(try BlockedTensor(x), relu: relu).plain(), expected, "batchnorm relu=\(relu)")
        }
    }

    @Test mutating func blockedConvolutionsFuseTheirPostOps() throws {
        let geometry = ConvolutionGeometry(inChannels: 20, outChannels: 24, kernel: 3, stride: 2, padding: .symmetric(1, 1))
        let conv = Convolution(geometry: geometry, weight: rng.tensor(geometry.weightShape), bias: rng.tensor([24]))
        let x = rng.tensor([2, 20, 9, 9])
        let plainOut = try conv(x)
        let residual = rng.tensor(plainOut.shape)
        for activation in [Activation.identity, .relu, .gelu, .silu] {
            var expected = plainOut
            activation.apply(&expected, scale: 1.7)
            close(
                try conv.blocked(try BlockedTensor(x), activation: activation, activationScale: 1.7).plain(), expected,
                "conv + \(activation) x 1.7")
        }
        for after in [Activation.relu, .gelu, .identity] {
            var summed = plainOut
            summed.add(residual)
            after.apply(&summed)
            close(
                try conv.blocked(try BlockedTensor(x), accumulatingInto: try BlockedTensor(residual), after: after).plain(),
                summed, "conv + residual, then \(after)")
        }
        // The first convolution of a plan reads the plain input (3 channels, not padded).
        let stem = ConvolutionGeometry(inChannels: 3, outChannels: 16, kernel: 7, stride: 2, padding: .symmetric(3, 3))
        let stemConv = Convolution(geometry: stem, weight: rng.tensor(stem.weightShape), bias: nil)
        let image = rng.tensor([2, 3, 17, 17])
        var expected = try stemConv(image)
        Activation.relu.apply(&expected)
        close(try stemConv.blocked(plain: image, activation: .relu).plain(), expected, "stem conv + relu")
    }
}
