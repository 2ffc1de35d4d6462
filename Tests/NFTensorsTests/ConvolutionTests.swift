import Testing

@testable import NFTensors

/// The oneDNN convolution against the plain reference (`referenceConvolution`), on random
/// shapes covering stride, symmetric and TF-SAME padding, dilation, groups, bias and the
/// fused residual-add + ReLU.
@Suite struct ConvolutionTests {
    @Test(arguments: 0..<24)
    func oneDNNMatchesReference(seed: Int) throws {
        var r = TestRandom(seed: UInt64(seed) + 1)
        let groups = [1, 1, 2, 4][r.int(0...3)]
        let inC = groups * r.int(1...5), outC = groups * r.int(1...5)
        let kernel = [1, 3, 5, 7][r.int(0...3)]
        let stride = r.int(1...2), dilation = kernel > 1 && seed % 5 == 0 ? 2 : 1
        let padding: ConvolutionPadding = seed % 3 == 0 ? .tfSame : .symmetric(r.int(0...3), r.int(0...3))
        let g = ConvolutionGeometry(
            inChannels: inC, outChannels: outC, kernel: kernel, stride: stride,
            dilation: dilation, groups: groups, padding: padding)
        let n = r.int(1...2), h = r.int(kernel * dilation...17), w = r.int(kernel * dilation...19)
        let input = r.tensor([n, inC, h, w])
        let weight = r.tensor(g.weightShape)
        let bias = seed % 2 == 0 ? r.tensor([outC]) : nil
        let conv = Convolution(geometry: g, weight: weight, bias: bias)
        let expected = referenceConvolution(input, weight: weight, bias: bias, geometry: g)
        let got = try conv(input)
        #expect(got.shape == expected.shape)
        #expect(got.maxAbsDifference(expected) < 1e-4, "geometry \(g), input \(input.shape)")

        // Fused residual add and ReLU: relu(conv(x) + residual).
        let residual = r.tensor(expected.shape)
        var fusedExpected = expected
        fusedExpected.add(residual)
        Activation.relu.apply(&fusedExpected)
        let fused = try conv(input, residual: residual, relu: true)
        #expect(fused.maxAbsDifference(fusedExpected) < 1e-4)
        // The primitive is cached per shape: a second call gives the same numbers.
        #expect(try conv(input) == got)
    }

    @Test func tfSamePaddingMatchesTimm() {
        // timm get_same_padding(x=7, k=3, s=2, d=1) = max((4 - 1) * 2 + 3 - 7, 0) = 2 -> (1, 1);
        // x=8: max(3 * 2 + 3 - 8, 0) = 1 -> (0, 1): the extra pixel goes to the bottom/right.
        let g = ConvolutionGeometry(inChannels: 1, outChannels: 1, kernel: 3, stride: 2, padding: .tfSame)
        #expect(g.resolvedPadding(height: 7, width: 8) == ResolvedPadding(top: 1, left: 0, bottom: 1, right: 1))
        #expect(g.outputSize(height: 7, width: 8) == (4, 4))
    }

    /// A padded 1x1 convolution crashed oneDNN 2.6's AVX-512 brgconv_1x1 in the blocked layout;
    /// the shim keeps it in NCHW. Found by `oneDNNMatchesReference` (seed 20).
    @Test func padded1x1ConvolutionMatchesReference() throws {
        var r = TestRandom(seed: 99)
        let g = ConvolutionGeometry(inChannels: 4, outChannels: 3, kernel: 1, padding: .symmetric(1, 0))
        let input = r.tensor([1, 4, 17, 5]), weight = r.tensor(g.weightShape), bias = r.tensor([3])
        let got = try Convolution(geometry: g, weight: weight, bias: bias)(input)
        #expect(got.maxAbsDifference(referenceConvolution(input, weight: weight, bias: bias, geometry: g)) < 1e-5)
    }

    @Test func tooSmallInputIsAnError() {
        let g = ConvolutionGeometry(inChannels: 1, outChannels: 1, kernel: 7, padding: .symmetric(0, 0))
        let conv = Convolution(geometry: g, weight: Tensor(shape: g.weightShape), bias: nil)
        #expect(throws: TensorError.self) { try conv(Tensor(shape: [1, 1, 3, 3])) }
        #expect(throws: TensorError.self) { try conv(Tensor(shape: [1, 2, 9, 9])) }
    }

    @Test(arguments: [(1, 7, 3), (3, 64, 10), (2, 5, 1)])
    func linearMatchesReference(n: Int, inF: Int, outF: Int) throws {
        var r = TestRandom(seed: UInt64(n * 100 + inF))
        let x = r.tensor([n, inF]), w = r.tensor([outF, inF]), b = r.tensor([outF])
        let fc = FullyConnected(weight: w, bias: b)
        #expect(try fc(x).maxAbsDifference(referenceLinear(x, weight: w, bias: b)) < 1e-5)
        let noBias = FullyConnected(weight: w, bias: nil)
        #expect(try noBias(x).maxAbsDifference(referenceLinear(x, weight: w, bias: nil)) < 1e-5)
    }
}
