@testable import NFTensors

/// Seeded uniform(-1, 1) tensors for the kernel tests (a tiny LCG: the tests need variety,
/// not statistical quality).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int((next() + 1) / 2 * Float(range.count - 1) + 0.5)
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in next() })
    }

    /// A random convolution for the kernel-against-reference tests: 2 groups every 4th seed, up to
    /// `inputs` and `outputs` channels per group, a 1, 3 or 5 kernel with same padding, stride 1 or
    /// 2, and an input of 1-2 images no smaller than the kernel (at most 13x11).
    mutating func convolutionCase(seed: Int, inputs: Int, outputs: Int) -> (geometry: ConvolutionGeometry, n: Int, h: Int, w: Int) {
        let groups = seed % 4 == 3 ? 2 : 1
        let inC = groups * int(3...inputs), outC = groups * int(1...outputs)
        let kernel = [1, 3, 3, 5][int(0...3)]
        let g = ConvolutionGeometry(
            inChannels: inC, outChannels: outC, kernel: kernel, stride: int(1...2), dilation: 1, groups: groups,
            padding: .symmetric(kernel / 2, kernel / 2))
        let n = int(1...2), h = int(kernel...13), w = int(kernel...11)
        return (g, n, h, w)
    }
}
