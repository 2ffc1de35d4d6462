import Foundation
import Testing

@testable import NFTensors

@Suite struct PointwiseTests {
    @Test(arguments: Activation.allCases)
    func activationMatchesDoubleReference(_ act: Activation) {
        let points: [Float] = [-6, -3, -1.5, -0.5, -0.01, 0, 0.01, 0.5, 1, 2.5, 6]
        var t = Tensor(shape: [points.count], storage: points)
        act.apply(&t, scale: 1.5)
        for (i, x) in points.enumerated() {
            #expect(abs(Double(t[i]) - act.reference(Double(x)) * 1.5) < 1e-5, "\(act)(\(x))")
        }
    }

    @Test func geluIsTheExactErfForm() {
        // torch.nn.functional.gelu(torch.tensor([1.0, -1.0]), approximate='none')
        // = [0.8413447, -0.1586553] (the tanh approximation gives 0.8411920).
        var t = Tensor(shape: [2], storage: [1, -1])
        Activation.gelu.apply(&t)
        #expect(abs(t[0] - 0.8413447) < 1e-6 && abs(t[1] + 0.1586553) < 1e-6)
    }

    /// `maxAbs` compares bit patterns: it must agree with the magnitudes' own maximum, whatever
    /// the signs, subnormals and infinities, and report NaN when an element is NaN.
    @Test func maxAbsIsTheLargestMagnitude() {
        // Every bit pattern alike: each magnitude and sign, subnormals too.
        var random = TestRandom(seed: 5)
        let values = (0..<1001).map { _ -> Float in
            _ = random.next()
            return Float(bitPattern: UInt32(truncatingIfNeeded: random.state >> 32))
        }.filter(\.isFinite)
        let plain = values.reduce(Float(0)) { Swift.max($0, abs($1)) }
        #expect(Tensor(shape: [values.count], storage: values).maxAbs == plain)
        #expect(Tensor(shape: [4], storage: [-3, 2, -0.0, 1]).maxAbs == 3)
        #expect(Tensor(shape: [2], storage: [.leastNonzeroMagnitude, -.leastNormalMagnitude]).maxAbs == .leastNormalMagnitude)
        #expect(Tensor(shape: [3], storage: [1, -.infinity, 2]).maxAbs == .infinity)
        #expect(Tensor(shape: [3], storage: [1, .nan, .infinity]).maxAbs.isNaN)
        #expect(Tensor(shape: [0], storage: []).maxAbs == 0)
    }

    @Test func softmaxRowsSumToOne() {
        let p = softmax(Tensor(shape: [2, 3], storage: [1, 2, 3, 1000, 0, -1000]))
        #expect(abs(p[0] + p[1] + p[2] - 1) < 1e-6)
        #expect(abs(p[2] - 0.66524096) < 1e-6)
        #expect(p[3] == 1 && p[4] == 0)
    }

    @Test func channelAffineIsPerChannel() {
        var t = Tensor(shape: [1, 2, 1, 2], storage: [1, 2, 3, 4])
        t.channelAffine(multiplier: [2, -1], addend: [1, 0], relu: true)
        #expect(t.storage == [3, 5, 0, 0])
    }
}
