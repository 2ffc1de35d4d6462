import NFLayers
import NFTensors
import Testing

@testable import NFDiagnostics

/// The live sums: whatever the requests' sizes, everything since the start equals one pass over
/// the same activations, and a recent window covers whole buckets of the latest traffic.
@Suite struct LiveEstimationShiftTests {
    static func moments(_ seed: UInt64, images: Int) -> [String: ChannelMoments] {
        var m = ChannelMoments(channels: 3)
        m.add(RandomNormal.tensor(shape: [images, 3, 4, 4], std: 1 + Double(seed), seed: seed, stream: 1))
        return ["bn": m]
    }

    @Test func allEqualsOnePassOverTheSameImages() {
        let live = LiveEstimationShift(bucketImages: 4, maxBuckets: 3)
        var whole = ChannelMoments(channels: 3)
        for seed in 0..<10 as Range<UInt64> {
            let tensor = RandomNormal.tensor(shape: [3, 3, 4, 4], std: 1 + Double(seed), seed: seed, stream: 1)
            var m = ChannelMoments(channels: 3)
            m.add(tensor)
            whole.add(tensor)
            live.record(["bn": m], images: 3)
        }
        let all = live.all
        #expect(all.images == 30)
        for c in 0..<3 {
            #expect(abs(all.moments["bn"]!.mean[c] - whole.mean[c]) < 1e-12)
            #expect(abs(all.moments["bn"]!.variance[c] - whole.variance[c]) < 1e-12)
        }
        // Buckets of 4 images filled by requests of 3: closed at 6, 12, ...; 3 kept.
        let recent = live.recent(window: 5)
        #expect(recent.images >= 5 && recent.images <= 12)
        #expect(live.recent(window: 1000).images <= 30 && live.recent(window: 1000).images >= 12)
        live.reset()
        #expect(live.all.images == 0 && live.recent(window: 10).images == 0)
    }

    /// The chart: esm_mean and esm_var panels on log axes, GroupNorm positions marked.
    @Test func chartMarksGroupNorms() {
        let layers = [
            EstimationShiftLayer(index: 0, name: "bn1", kind: "groupnorm", channels: 4, esmMean: nil, esmVar: nil),
            EstimationShiftLayer(index: 1, name: "layer1.0.bn1", kind: "batchnorm", channels: 4, esmMean: 0.1, esmVar: 0.2),
        ]
        let report = EstimationShiftReport(model: "m", source: "dataset", dataset: "d", images: 10, statistics: "checkpoint", layers: layers)
        let figure = EstimationShiftChart.figure([report])
        #expect(figure.panels.count == 2 && figure.panels.allSatisfy { $0.yScale == .log })
        #expect(figure.panels[0].markers.map(\.x) == [0])
        #expect(figure.panels[0].series[0].points.map(\.y) == [nil, 0.1])
        #expect(EstimationShiftChart.svg([report]).contains("m on d"))
    }
}
