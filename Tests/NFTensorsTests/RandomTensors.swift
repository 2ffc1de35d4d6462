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
}
