import Foundation
import NFTestSupport
import Testing

@testable import NFDiagnostics

/// The NF-ResNet paper's four 600-layer networks at initialization (64 px, batch 4), as
/// docs/signal-propagation.md builds them, against an independent PyTorch computation:
/// Tests/Fixtures/spp/designs.json, written by tools/reference/make_spp_fixtures.py with torch
/// seeds 0-4 (weights and input). The random draws differ between the two (nfserve's seeded
/// generator against torch's), so the comparison is statistical:
///
/// - for every stage and statistic, nfserve's stage average (seed 0) lies within 4 standard
///   deviations of PyTorch's five seeds' stage averages, plus 3% of their mean (and 1e-3 for a
///   squared mean that is near 0). Measured when the fixture was made, for the two NF-ResNets
///   (`nfserve spp --architecture ... --seed K`, K = 0-4): nfserve's five seeds' stage averages
///   lie within 1-2 PyTorch standard deviations of PyTorch's; seed 0, the one tested, is the
///   farthest (3.5 on NF-ResNet without WS, whose statistics spread most between seeds);
/// - and, independent of PyTorch, the paper's observations on nfserve's own run (below).
@Suite(.serialized, .machineLoad(.exclusive)) struct DesignReferenceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Statistic: Decodable {
        var values: [Double]
        var mean: Double
        var std: Double
    }
    struct Point: Decodable {
        var index: Int, name: String, stage: Int?
        var avg_sq_channel_mean: Statistic, avg_channel_var: Statistic, residual_var: Statistic?
        var expected_var: Double?
    }
    struct Network: Decodable {
        var architecture: NetworkDesign?
        var points: [Point]
    }
    struct Fixture: Decodable {
        struct Config: Decodable {
            var batch: Int
            var size: Int
            var seeds: [Int]
        }
        var config: Config
        var networks: [String: Network]
        var nf_resnet50_at_init: Network?
    }

    static let fixture: Fixture = {
        let url = repository.appendingPathComponent("Tests/Fixtures/spp/designs.json")
        do { return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)) } catch { fatalError("\(url.path): \(error)") }
    }()

    static func run(_ network: Network) throws -> [SignalPropagationPoint] {
        let input = SignalPropagationInput(batch: fixture.config.batch, size: fixture.config.size, seed: 0)
        let report = try SignalPropagation.measure(design: try #require(network.architecture), input: input)
        #expect(report.points.map(\.name) == network.points.map(\.name))
        #expect(report.points.count == 201)
        return report.points
    }

    /// Stage averages against PyTorch's seeds, as the suite's comment says.
    static func compareStages(_ points: [SignalPropagationPoint], _ network: Network, label: String) {
        let stats: [(String, (SignalPropagationPoint) -> Double?, (Point) -> Statistic?)] = [
            ("avg_sq_channel_mean", { $0.averageSquaredChannelMean }, { $0.avg_sq_channel_mean }),
            ("avg_channel_var", { $0.averageChannelVariance }, { $0.avg_channel_var }),
            ("residual_var", { $0.residualVariance }, { $0.residual_var }),
        ]
        for stage in 0..<4 {
            let indices = network.points.indices.filter { network.points[$0].stage == stage }
            for (name, ours, theirs) in stats {
                let mine = indices.compactMap { ours(points[$0]) }.reduce(0, +) / Double(indices.count)
                let seeds = fixture.config.seeds.indices.map { k in
                    indices.compactMap { theirs(network.points[$0])?.values[k] }.reduce(0, +) / Double(indices.count)
                }
                let mean = seeds.reduce(0, +) / Double(seeds.count)
                let std = (seeds.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(seeds.count)).squareRoot()
                let tolerance = 4 * std + 0.03 * abs(mean) + (name == "avg_sq_channel_mean" ? 1e-3 : 0)
                #expect(abs(mine - mean) <= tolerance, "\(label) stage \(stage) \(name): nfserve \(mine), PyTorch \(mean) ± \(std)")
            }
        }
    }

    static func stage(_ points: [SignalPropagationPoint], _ s: Int) -> [SignalPropagationPoint] { points.filter { $0.stage == s } }

    /// Least-squares slope and R^2 of y against the block's position in its stage.
    static func linearFit(_ y: [Double]) -> (slope: Double, r2: Double) {
        let x = y.indices.map(Double.init), n = Double(y.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        let sxy = zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }, sxx = x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        let syy = y.reduce(0) { $0 + ($1 - my) * ($1 - my) }
        return (sxy / sxx, sxy * sxy / (sxx * syy))
    }

    static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    /// Each branch adds about 1 - 1/pi = 0.68 to the variance and 1/pi to the squared mean: both
    /// grow linearly within a stage (to about 34 and 16 after 50 blocks) and fall back at each
    /// stage's first block; residual_var stays about 0.68.
    @Test func bnReluConv() throws {
        let network = try #require(Self.fixture.networks["bn_relu_conv"])
        let points = try Self.run(network)
        Self.compareStages(points, network, label: "BN-ReLU-Conv")
        for s in 0..<4 {
            let blocks = Self.stage(points, s)
            let variance = Self.linearFit(blocks.map(\.averageChannelVariance))
            #expect(variance.r2 > 0.99 && abs(variance.slope - 0.68) < 0.06, "stage \(s): \(variance)")
            let squaredMean = Self.linearFit(blocks.map(\.averageSquaredChannelMean))
            #expect(squaredMean.r2 > 0.95 && abs(squaredMean.slope - 0.32) < 0.08, "stage \(s): \(squaredMean)")
            #expect(blocks.first!.averageChannelVariance < 2 && (28...40).contains(blocks.last!.averageChannelVariance))
            #expect((10...22).contains(blocks.last!.averageSquaredChannelMean))
        }
        #expect(abs(Self.mean(points.compactMap(\.residualVariance)) - 0.68) < 0.03)
    }

    /// The squared mean stays near 0; residual_var about 2, so the variance grows by about 2 per block.
    @Test func reluBnConv() throws {
        let network = try #require(Self.fixture.networks["relu_bn_conv"])
        let points = try Self.run(network)
        Self.compareStages(points, network, label: "ReLU-BN-Conv")
        #expect(points.dropFirst().allSatisfy { $0.averageSquaredChannelMean < 0.2 })
        #expect(abs(Self.mean(points.compactMap(\.residualVariance)) - 2) < 0.1)
        for s in 0..<4 {
            let variance = Self.linearFit(Self.stage(points, s).map(\.averageChannelVariance))
            #expect(variance.r2 > 0.99 && abs(variance.slope - 2) < 0.15, "stage \(s): \(variance)")
        }
    }

    /// With Scaled WS, alpha 0.2: residual_var about 1 and the variance after block k of stage 0
    /// about 1 + k alpha^2 (3.0 after 50 blocks), reset at each transition; squared mean near 0.
    /// (Zero padding on the small late-stage maps pulls later stages below the ideal, as the
    /// reference says: checked only against PyTorch there.)
    @Test func nfResNetWithScaledWS() throws {
        let network = try #require(Self.fixture.networks["nf_resnet_ws"])
        let points = try Self.run(network)
        Self.compareStages(points, network, label: "NF-ResNet WS")
        let first = Self.stage(points, 0)
        for (k, point) in first.enumerated() {
            #expect(abs(point.averageChannelVariance - (1 + 0.04 * Double(k + 1))) < 0.1 * (1 + 0.04 * Double(k + 1)), "\(point.name)")
            #expect(point.expectedVariance == nil || abs(point.expectedVariance! - (1 + 0.04 * Double(k + 1))) < 1e-9)
            #expect(point.averageSquaredChannelMean < 0.02)
        }
        #expect(abs(Self.mean(first.compactMap(\.residualVariance)) - 1) < 0.1)
        for s in 1..<4 { #expect(Self.stage(points, s).first!.averageChannelVariance < 1.2, "stage \(s) resets") }
        #expect(points.allSatisfy { $0.averageSquaredChannelMean < 0.2 || $0.index == 0 })
    }

    /// Without it the squared channel mean is large and grows with depth (mean shift): two
    /// orders of magnitude above the WS network's, and higher at the end of stage 0 than at its start.
    @Test func nfResNetWithoutWSShowsMeanShift() throws {
        let network = try #require(Self.fixture.networks["nf_resnet_no_ws"])
        let points = try Self.run(network)
        Self.compareStages(points, network, label: "NF-ResNet no WS")
        let first = Self.stage(points, 0)
        #expect(first.last!.averageSquaredChannelMean > 1.5 * first.first!.averageSquaredChannelMean)
        #expect(Self.mean(first.map(\.averageSquaredChannelMean)) > 5)
        let ws = try #require(Self.fixture.networks["nf_resnet_ws"])
        #expect(
            Self.mean(first.map(\.averageSquaredChannelMean)) > 100 * Self.mean(ws.points.filter { $0.stage == 0 }.map(\.avg_sq_channel_mean.mean)))
    }

    /// timm's nf_resnet50 at initialization (gains timm zero-initializes set to 1) against timm.
    @Test func registeredNFResNet50AtInit() throws {
        let network = try #require(Self.fixture.nf_resnet50_at_init)
        let input = SignalPropagationInput(batch: Self.fixture.config.batch, size: Self.fixture.config.size, seed: 0)
        let report = try SignalPropagation.measure(architecture: "nf_resnet50", input: input)
        #expect(report.points.map(\.name) == network.points.map(\.name))
        #expect(report.points.map(\.expectedVariance) == network.points.map(\.expected_var))
        Self.compareStages(report.points, network, label: "nf_resnet50")
    }
}
