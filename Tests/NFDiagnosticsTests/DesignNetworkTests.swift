import Foundation
import NFLayers
import NFPlot
import NFTensors
import Testing

@testable import NFDiagnostics

/// The pieces of the designs at initialization, each against a plain computation.
@Suite struct DesignNetworkTests {
    /// Normal weights: mean 0 and the asked standard deviation over a million values, the same
    /// values for the same seed and stream (whatever the thread count), other values otherwise.
    @Test func randomNormalHasTheAskedMomentsAndIsReproducible() {
        let shape = [1000, 1000]
        let a = RandomNormal.tensor(shape: shape, std: 0.5, seed: 7, stream: 3)
        var moments = ChannelMoments(channels: 1)
        moments.add(a.reshaped([1, 1, 1000, 1000]))
        #expect(abs(moments.mean[0]) < 0.002)
        #expect(abs(moments.variance[0].squareRoot() - 0.5) < 0.002)
        // The fourth moment of a normal is 3 sigma^4: a uniform or a clipped draw would miss it.
        let kurtosis = a.storage.reduce(0.0) { $0 + pow(Double($1), 4) } / Double(a.count) / pow(0.25, 2)
        #expect(abs(kurtosis - 3) < 0.05)
        #expect(RandomNormal.tensor(shape: shape, std: 0.5, seed: 7, stream: 3).storage == a.storage)
        #expect(RandomNormal.tensor(shape: shape, std: 0.5, seed: 7, stream: 4).storage != a.storage)
        #expect(RandomNormal.tensor(shape: shape, std: 0.5, seed: 8, stream: 3).storage != a.storage)
    }

    /// DeepMind's WS: every output channel has mean 0 and `var * fan_in` = 1 afterwards.
    @Test func deepMindStandardizationNormalizesEachOutputChannel() {
        let weight = RandomNormal.tensor(shape: [6, 4, 3, 3], std: 3, seed: 1, stream: 1)
        let standardized = deepMindStandardized(weight)
        let fanIn = 36
        for o in 0..<6 {
            let row = standardized.storage[(o * fanIn)..<((o + 1) * fanIn)].map(Double.init)
            let mean = row.reduce(0, +) / Double(fanIn)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(fanIn)
            #expect(abs(mean) < 1e-7)
            #expect(abs(variance * Double(fanIn) - 1) < 1e-5)
        }
    }

    /// BatchNorm with batch statistics normalizes every channel to mean 0, variance 1.
    @Test func batchStatisticsNormalizeEachChannel() throws {
        var input = RandomNormal.tensor(shape: [3, 4, 5, 5], std: 2, seed: 2, stream: 1)
        for i in input.storage.indices { input.storage[i] += Float(i % 7) }
        let bn = BatchNorm2d.initialized(name: "bn", channels: 4)
        let output = try bn(input, ForwardContext(batchStatistics: MomentsBatchStatistics()))
        var moments = ChannelMoments(channels: 4)
        moments.add(output)
        for c in 0..<4 {
            #expect(abs(moments.mean[c]) < 1e-6)
            #expect(abs(moments.variance[c] - 1) < 1e-4)  // var / (var + 1e-5)
        }
    }

    @Test func flopEstimateMatchesTheConvolutionsRun() throws {
        let design = try NetworkDesign(family: .preactResnet, depths: [2, 1, 1, 1], width: 1).validated()
        let network = DesignNetwork(design: design, seed: 0)
        // ResNet-50's stem at 64 px: 2 * 64 ch * 32^2 px * 3 * 49 (computed by hand), plus blocks.
        #expect(network.flops(batch: 1, size: 64) > 2 * 16 * 32 * 32 * 3 * 49)
        #expect(network.flops(batch: 4, size: 64) == 4 * network.flops(batch: 1, size: 64))
    }

    @Test func defaultsAndLabels() throws {
        let bn = try NetworkDesign(family: .preactResnet).validated()
        #expect(bn.depths == [50, 50, 50, 50] && bn.width == 4 && bn.order == .bnReluConv && bn.label == "BN-ReLU-Conv")
        let nf = try NetworkDesign(family: .nfResnet, weightStandardization: false, activation: "silu").validated()
        #expect(nf.alpha == 0.2 && nf.label == "NF-ResNet (no WS, silu)")
        #expect(throws: DiagnosticsRequestError.self) { try NetworkDesign(family: .nfResnet, depths: []).validated() }
    }

    /// The chart: three panels, a boundary at every stage's first block, the expected variance
    /// dashed beside the measured one, one legend entry per run.
    @Test func chartHasThePapersThreePanels() throws {
        let design = try NetworkDesign(family: .nfResnet, depths: [2, 2], width: 1).validated()
        let report = try SignalPropagation.measure(design: design, input: SignalPropagationInput(batch: 2, size: 32))
        let figure = SignalPropagationChart.figure([report, report])
        #expect(figure.panels.map(\.title) == ["Average channel squared mean", "Average channel variance", "Residual branch variance"])
        #expect(figure.panels[0].markers.map(\.x) == [1, 3])
        let names = figure.panels[1].series.map(\.name)
        #expect(names == ["NF-ResNet (WS)", "NF-ResNet (WS) #2", "NF-ResNet (WS) expected", "NF-ResNet (WS) #2 expected"])
        #expect(figure.panels[1].series[2].dashed)
        #expect(figure.panels[2].series[0].points[0].y == nil, "the stem has no residual branch")
    }
}

/// The fast accumulation against the plain Double reference, for planes of every size (a
/// 1x1 late-stage map to a 224 x 224 stem), large offsets and spreads.
@Suite struct FastMomentsTests {
    @Test(arguments: [1, 2, 4, 7, 16, 17, 33, 224])
    func fastEqualsReference(_ side: Int) {
        for (offset, spread) in [(0.0, 1.0), (100.0, 0.01), (-3.0, 1000.0)] {
            var tensor = RandomNormal.tensor(shape: [3, 5, side, side], std: spread, seed: UInt64(side), stream: 7)
            for i in tensor.storage.indices { tensor.storage[i] += Float(offset) + Float(i % 5) * Float(spread) }
            var fast = ChannelMoments(channels: 5)
            fast.add(tensor)
            let reference = ChannelMoments.reference([tensor])
            for c in 0..<5 {
                #expect(abs(fast.mean[c] - reference.mean[c]) <= 1e-12 * max(abs(reference.mean[c]), spread), "\(side) \(offset)")
                #expect(abs(fast.variance[c] - reference.variance[c]) <= 1e-10 * reference.variance[c] + 1e-15, "\(side) \(offset)")
            }
        }
    }
}
