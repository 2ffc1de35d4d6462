import Testing

@testable import NFTensors

/// Pooling checked against values worked out from PyTorch's definitions (ATen pooling_output_shape
/// and avg_pool2d's divisor rule); the model parity fixtures exercise them again end to end.
@Suite struct PoolingTests {
    @Test func ceilModeOutputSizes() {
        // nn.AvgPool2d(2, 2, ceil_mode=True) on 5 -> 3; on 4 -> 2; MaxPool2d(3, 2, 1) on 7 -> 4.
        #expect(poolingOutputSize(5, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 3)
        #expect(poolingOutputSize(4, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 2)
        #expect(poolingOutputSize(5, kernel: 2, stride: 2, padding: 0, ceilMode: false) == 2)
        #expect(poolingOutputSize(7, kernel: 3, stride: 2, padding: 1, ceilMode: false) == 4)
        // The last window must start inside input + left padding: in=2, k=1, s=2, p=0 -> 1.
        #expect(poolingOutputSize(2, kernel: 1, stride: 2, padding: 0, ceilMode: true) == 1)
    }

    @Test func avgPoolCeilModeExcludesPadding() {
        // 1x1x3x3 = 1...9, AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False):
        // [[(1+2+4+5)/4, (3+6)/2], [(7+8)/2, 9]] = [[3, 4.5], [7.5, 9]].
        let x = Tensor(shape: [1, 1, 3, 3], storage: (1...9).map(Float.init))
        let y = avgPool2d(x, kernel: 2, stride: 2, ceilMode: true, countIncludePad: false)
        #expect(y.shape == [1, 1, 2, 2])
        #expect(y.storage == [3, 4.5, 7.5, 9])
        // With count_include_pad=True and no padding, ATen divides the clipped edge windows by
        // the window clipped to input + padding: still 2 for the edges here.
        let z = avgPool2d(x, kernel: 2, stride: 2, ceilMode: true, countIncludePad: true)
        #expect(z.storage == [3, 4.5, 7.5, 9])
    }

    @Test func maxPoolPadsWithMinusInfinity() {
        let x = Tensor(shape: [1, 1, 2, 2], storage: [-5, -6, -7, -8])
        let y = maxPool2d(x, kernel: 3, stride: 2, padding: 1)
        #expect(y.shape == [1, 1, 1, 1] && y.storage == [-5])
    }

    @Test func globalAveragePoolMeansEachPlane() {
        let x = Tensor(shape: [1, 2, 1, 3], storage: [1, 2, 3, -1, -1, 5])
        #expect(globalAveragePool(x).storage == [2, 1])
    }

    @Test func groupNormMatchesDefinition() {
        // One group of 4 values [1, 2, 3, 4]: mean 2.5, biased var 1.25.
        let x = Tensor(shape: [1, 2, 1, 2], storage: [1, 2, 3, 4])
        let y = groupNorm(x, groups: 1, weight: [1, 2], bias: [0, 1], eps: 0)
        let s = Float(1.25).squareRoot()
        let expected: [Float] = [-1.5 / s, -0.5 / s, 2 * 0.5 / s + 1, 2 * 1.5 / s + 1]
        for i in 0..<4 { #expect(abs(y[i] - expected[i]) < 1e-6) }
    }
}
