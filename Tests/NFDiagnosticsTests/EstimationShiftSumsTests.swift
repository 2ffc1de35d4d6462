import NFLayers
import NFTensors
import Testing

@testable import NFDiagnostics

/// The raw sums replicas export (`EstimationShiftSums`), added across three replicas, give the
/// estimation shift of all their inputs together; the reference is the plain two-pass mean and
/// variance over every value at once (`ChannelMoments.reference`), not the sums.
@Suite struct EstimationShiftSumsTests {
    /// A seeded generator (SplitMix64), so the replicas' inputs are the same every run.
    struct Random {
        var state: UInt64
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    static let channels = 5
    static let runningMean: [Float] = [0.1, -0.4, 1.5, 0, 2]
    static let runningVar: [Float] = [1, 0.5, 2, 0.1, 3]

    /// `passes` activations `[2, C, 4, 3]` with each channel shifted by `shift` and scaled by `scale`.
    static func passes(_ count: Int, seed: UInt64, shift: Double, scale: Double) -> [Tensor] {
        var random = Random(state: seed)
        return (0..<count).map { pass in
            let storage = (0..<(2 * channels * 12)).map { i in
                let c = (i / 12) % channels
                // Drifts from pass to pass, so one replica's passes fall on both sides of the mean.
                return Float(Double(runningMean[c]) + shift * (pass % 2 == 0 ? 1 : -0.5) + scale * (random.next() - 0.5) * Double(c + 1))
            }
            return Tensor(shape: [2, channels, 4, 3], storage: storage)
        }
    }

    static func estimationShift(mean: [Double], variance: [Double]) -> (Double, Double) {
        var m = 0.0, v = 0.0
        for c in 0..<channels {
            m += (Double(runningMean[c]) - mean[c]) * (Double(runningMean[c]) - mean[c])
            v += (Double(runningVar[c]) - variance[c]) * (Double(runningVar[c]) - variance[c])
        }
        return (m.squareRoot(), v.squareRoot())
    }

    @Test func pooledSumsGiveTheEstimationShiftOfAllInputs() throws {
        let replicas = [
            Self.passes(4, seed: 1, shift: 0.8, scale: 1), Self.passes(3, seed: 2, shift: -0.3, scale: 3),
            Self.passes(5, seed: 3, shift: 0.1, scale: 0.5),
        ]
        var perReplica: [EstimationShiftSums] = []
        for passes in replicas {
            var sums = EstimationShiftSums(channels: Self.channels)
            for pass in passes {
                var moments = ChannelMoments(channels: Self.channels)
                moments.add(pass)
                sums.add(moments, runningMean: Self.runningMean)
            }
            // Every part only grows and both signs occur: Prometheus counters.
            #expect(sums.deviationUp.allSatisfy { $0 >= 0 } && sums.deviationDown.allSatisfy { $0 >= 0 })
            perReplica.append(sums)
        }
        #expect(perReplica[0].deviationUp.contains { $0 > 0 } && perReplica[0].deviationDown.contains { $0 > 0 })
        let pooled = perReplica.dropFirst().reduce(perReplica[0], +)
        let (esmMean, esmVar) = try #require(pooled.estimationShift(runningVariance: Self.runningVar))

        let reference = ChannelMoments.reference(replicas.flatMap { $0 })
        let (expectedMean, expectedVar) = Self.estimationShift(mean: reference.mean, variance: reference.variance)
        #expect(abs(esmMean - expectedMean) <= 1e-9 * expectedMean, "\(esmMean) vs \(expectedMean)")
        #expect(abs(esmVar - expectedVar) <= 1e-9 * expectedVar, "\(esmVar) vs \(expectedVar)")
        #expect(pooled.values == 12 * 24)

        // The average of the replicas' own ESMs is another number.
        let averages = perReplica.map { $0.estimationShift(runningVariance: Self.runningVar)! }
        let averageMean = averages.map(\.esmMean).reduce(0, +) / 3
        #expect(abs(averageMean - expectedMean) > 0.05 * expectedMean, "pooled \(expectedMean), average \(averageMean)")
    }

    @Test func liveSumsFollowTheRecordedPasses() throws {
        let layer = BatchNorm2d(
            name: "bn", weight: .init(repeating: 1, count: Self.channels), bias: .init(repeating: 0, count: Self.channels),
            runningMean: Self.runningMean, runningVar: Self.runningVar, eps: 1e-5)
        let live = LiveEstimationShift(batchNorms: [layer])
        let passes = Self.passes(3, seed: 9, shift: 0.5, scale: 2)
        for pass in passes {
            var moments = ChannelMoments(channels: Self.channels)
            moments.add(pass)
            live.record(["bn": moments, "other": moments], images: 2)
        }
        let sums = live.sums
        #expect(sums.images == 6 && sums.layers.keys.sorted() == ["bn"])
        let reference = ChannelMoments.reference(passes)
        let (expectedMean, _) = Self.estimationShift(mean: reference.mean, variance: reference.variance)
        let (esmMean, _) = try #require(sums.layers["bn"]?.estimationShift(runningVariance: Self.runningVar))
        #expect(abs(esmMean - expectedMean) <= 1e-9 * expectedMean)
        // The same statistics give the same label in every process; others another.
        #expect(live.statistics == LiveEstimationShift(batchNorms: [layer]).statistics && live.statistics.count == 16)
        let moved = BatchNorm2d(
            name: "bn", weight: layer.weight, bias: layer.bias, runningMean: Self.runningMean.map { $0 + 1e-6 }, runningVar: Self.runningVar,
            eps: 1e-5)
        #expect(LiveEstimationShift(batchNorms: [moved]).statistics != live.statistics)
        live.reset()
        #expect(live.sums.layers.isEmpty)
    }
}
