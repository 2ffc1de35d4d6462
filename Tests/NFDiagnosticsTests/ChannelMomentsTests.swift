import Foundation
import NFCheckpoint
import NFLayers
import NFModels
import NFTensors
import Synchronization
import Testing

@testable import NFDiagnostics

/// The shared moments accumulator against a plain two-pass computation over all the values at
/// once (written here, in Double), on seeded data built to be hard: a large mean with a tiny spread.
@Suite struct ChannelMomentsTests {
    /// Seeded uniform values `offset[c] + spread * u`, u in [-1, 1).
    static func batch(n: Int, c: Int, h: Int, w: Int, seed: UInt64, offset: [Double], spread: Double) -> Tensor {
        var state = seed
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        var storage: [Float] = []
        for _ in 0..<n { for channel in 0..<c { for _ in 0..<(h * w) { storage.append(Float(offset[channel] + spread * next())) } } }
        return Tensor(shape: [n, c, h, w], storage: storage)
    }

    /// Mean and biased variance of each channel of all `batches`, two passes over every value
    /// (the plain reference kept beside the fast accumulation).
    static func reference(_ batches: [Tensor]) -> (mean: [Double], variance: [Double]) {
        ChannelMoments.reference(batches)
    }

    @Test func momentsOfSeveralBatchesEqualTheTwoPassReference() {
        let offset = [1000.0, -3.5, 0, 1e-3]
        let batches = [
            Self.batch(n: 2, c: 4, h: 5, w: 7, seed: 1, offset: offset, spread: 0.01),
            Self.batch(n: 1, c: 4, h: 5, w: 7, seed: 2, offset: offset, spread: 0.01),
            Self.batch(n: 3, c: 4, h: 1, w: 1, seed: 3, offset: offset, spread: 2),
        ]
        var moments = ChannelMoments(channels: 4)
        for batch in batches { moments.add(batch) }
        let (mean, variance) = Self.reference(batches)
        #expect(moments.count == 2 * 35 + 35 + 3)
        for channel in 0..<4 {
            #expect(abs(moments.mean[channel] - mean[channel]) <= 1e-12 * max(1, abs(mean[channel])), "mean \(channel)")
            #expect(abs(moments.variance[channel] - variance[channel]) <= 1e-9 * max(1e-12, variance[channel]), "variance \(channel)")
        }
        #expect(abs(moments.averageSquaredMean - mean.map { $0 * $0 }.reduce(0, +) / 4) <= 1e-9)
        #expect(abs(moments.averageVariance - variance.reduce(0, +) / 4) <= 1e-9)
    }

    /// The blocked-layout reduction (`nf_blocked_moments`, reading a plan's nChw16c or nChw8c
    /// buffer where it lies) against the same reference: 20 channels, so the last block (of 16
    /// or of 8) is part padding; several batches merged, as a recorder merges a plan's passes.
    @Test func blockedMomentsEqualTheTwoPassReference() throws {
        let offset = (0..<20).map { Double($0 % 5) * 250 - 400 }
        let batches = [
            Self.batch(n: 3, c: 20, h: 9, w: 11, seed: 11, offset: offset, spread: 0.05),
            Self.batch(n: 1, c: 20, h: 1, w: 1, seed: 12, offset: offset, spread: 3),
            Self.batch(n: 2, c: 20, h: 4, w: 4, seed: 13, offset: offset, spread: 1),
        ]
        var blocked = ChannelMoments(channels: 20)
        for batch in batches { blocked.add(try BlockedTensor(batch)) }
        let (mean, variance) = Self.reference(batches)
        #expect(blocked.count == 3 * 99 + 1 + 2 * 16)
        for channel in 0..<20 {
            #expect(abs(blocked.mean[channel] - mean[channel]) <= 1e-12 * max(1, abs(mean[channel])), "mean \(channel)")
            #expect(abs(blocked.variance[channel] - variance[channel]) <= 1e-9 * max(1e-12, variance[channel]), "variance \(channel)")
        }
    }

    @Test func mergingEqualsAddingInOneAccumulator() {
        let offset = [5.0, -1.0]
        let a = Self.batch(n: 2, c: 2, h: 3, w: 3, seed: 7, offset: offset, spread: 1)
        let b = Self.batch(n: 4, c: 2, h: 2, w: 5, seed: 8, offset: offset, spread: 3)
        var one = ChannelMoments(channels: 2)
        one.add(a)
        one.add(b)
        var left = ChannelMoments(channels: 2), right = ChannelMoments(channels: 2)
        left.add(a)
        right.add(b)
        left.merge(right)
        left.merge(ChannelMoments(channels: 2))
        #expect(left.count == one.count)
        for channel in 0..<2 {
            #expect(abs(left.mean[channel] - one.mean[channel]) < 1e-12)
            #expect(abs(left.variance[channel] - one.variance[channel]) < 1e-12)
        }
    }

    @Test func emptyAccumulatorReportsZeros() {
        let moments = ChannelMoments(channels: 3)
        #expect(moments.variance == [0, 0, 0] && moments.averageSquaredMean == 0 && moments.averageVariance == 0)
    }

    /// The recorder on a resnet18 built with seeded weights: a point for the stem and for each of
    /// its 8 blocks, in order, named as the checkpoint names them, with the moments of the very
    /// tensors the model reported (captured beside it).
    @Test func recorderGivesOnePointPerBlockInNetworkOrder() throws {
        let config = try ModelConfig(
            jsonData: Data(
                #"{"architecture": "resnet18", "num_classes": 3, "model_args": {"in_chans": 1, "channels": [4, 4, 4, 4]}, "pretrained_cfg": {"input_size": [1, 32, 32]}}"#
                    .utf8))
        let model = try CheckpointFolder.build(config: config, weights: InitializerWeightSource(seed: 3))
        let recorder = SignalPropagationRecorder()
        let capture = Capture()
        let input = Self.batch(n: 2, c: 1, h: 32, w: 32, seed: 9, offset: [0], spread: 1.7)
        _ = try model.forward(input, context: ForwardContext(observer: Tee(recorder, capture)))
        let points = recorder.points()
        #expect(points.map(\.index) == Array(0...8))
        #expect(points.map(\.stage) == [nil, 0, 0, 1, 1, 2, 2, 3, 3])
        #expect(points.map(\.name) == ["stem", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"])
        #expect(points[0].residualVariance == nil && points.dropFirst().allSatisfy { $0.residualVariance != nil })
        let lastOutput = try #require(capture.tensors[.blockOutput(BlockPosition(index: 7, stage: 3, name: "layer4.1"))])
        let (mean, variance) = Self.reference([lastOutput])
        #expect(abs(points[8].averageSquaredChannelMean - mean.map { $0 * $0 }.reduce(0, +) / Double(mean.count)) < 1e-9)
        #expect(abs(points[8].averageChannelVariance - variance.reduce(0, +) / Double(variance.count)) < 1e-9)
    }
}

private final class Capture: ForwardObserver {
    private let captured = Mutex<[ObservationSite: Tensor]>([:])
    var tensors: [ObservationSite: Tensor] { captured.withLock { $0 } }
    func observe(_ site: ObservationSite, _ activation: Tensor) { captured.withLock { $0[site] = activation } }
}

private final class Tee: ForwardObserver {
    let first: any ForwardObserver, second: any ForwardObserver
    init(_ first: any ForwardObserver, _ second: any ForwardObserver) { (self.first, self.second) = (first, second) }
    func observe(_ site: ObservationSite, _ activation: Tensor) {
        first.observe(site, activation)
        second.observe(site, activation)
    }
}
