import Foundation
import NFLayers
import NFModels
import NFTensors
import Synchronization
import Testing

/// Keeps every normalization input it is shown, in order (what the estimation shift reads).
final class NormalizationInputs: ForwardObserver {
    let seen = Mutex<[(String, Tensor)]>([])
    var observedSites: ObservedSites { .normalizationInputs }
    func observe(_ site: ObservationSite, _ activation: Tensor) {
        if case let .normalizationInput(name) = site { seen.withLock { $0.append((name, activation)) } }
    }
}

/// Keeps every activation shown at the kinds of site it declares, in order (copied out of the
/// plan's blocked layout by `observe(_:blocked:)`'s default).
final class Observations: ForwardObserver {
    let sites: ObservedSites
    let seen = Mutex<[(ObservationSite, Tensor)]>([])
    init(_ sites: ObservedSites) { self.sites = sites }
    var observedSites: ObservedSites { sites }
    func observe(_ site: ObservationSite, _ activation: Tensor) {
        let kind: ObservedSites = if case .normalizationInput = site { .normalizationInputs } else { .blocks }
        if sites.contains(kind) { seen.withLock { $0.append((site, activation)) } }
    }
}

/// The execution plans (fused, blocked layout) against timm and against the layers they are
/// compiled from, on every parity fixture (tools/reference/make_parity_fixtures.py: PyTorch
/// 2.15 + timm 1.0.31, seeded per case): the plan's logits are timm's within the parity
/// tolerance; a plan observed at its normalization inputs (BatchNorm left unfolded there) gives
/// the unobserved plan's logits, and shows the observer what the layers show it, in their order.
@Suite struct ExecutionPlanTests {
    static let cases = ParityFixtures.cases(families: ["resnet", "xbn", "nfnet"])

    @Test(arguments: cases)
    func planMatchesTimmAndTheLayers(_ c: ParityCase) throws {
        let model = try CheckpointFolder.load(c.directory.path)
        let (input, expected) = try ParityFixtures.io(c)
        let plan = try #require(model.classifier.executionPlan(), "every family has a plan")
        let fused = try plan.logits(input, observer: nil)
        let scale = max(1, expected.maxAbs)
        #expect(fused.maxAbsDifference(expected) <= 1e-3 * scale, "\(c.name): plan vs timm \(fused.maxAbsDifference(expected))")

        let planView = NormalizationInputs(), layerView = NormalizationInputs()
        let observed = try plan.logits(input, observer: planView)
        let layers = try model.classifier.forward(input, context: ForwardContext(observer: layerView))
        #expect(observed.maxAbsDifference(fused) <= 1e-4 * scale, "\(c.name): observed vs unobserved plan")
        #expect(layers.maxAbsDifference(fused) <= 1e-4 * scale, "\(c.name): plan vs layers")
        let fromPlan = planView.seen.withLock { $0 }, fromLayers = layerView.seen.withLock { $0 }
        #expect(fromPlan.map(\.0) == fromLayers.map(\.0), "\(c.name): the same layers observed, in the same order")
        #expect(fromPlan.count == model.classifier.normalizationLayers.count)
        for ((name, a), (_, b)) in zip(fromPlan, fromLayers) {
            let tolerance = 1e-4 * max(1, b.maxAbs)
            #expect(a.shape == b.shape && a.maxAbsDifference(b) <= tolerance, "\(c.name): \(name) observed differently")
        }
    }

    /// Observers of the blocks (the signal-propagation plot), and of every site at once, get
    /// from the plan what the layers show them, in their order, and the plan's logits stay the
    /// unobserved plan's.
    @Test(arguments: cases)
    func planShowsBlocksAsTheLayersDo(_ c: ParityCase) throws {
        let model = try CheckpointFolder.load(c.directory.path)
        let (input, expected) = try ParityFixtures.io(c)
        let plan = try #require(model.classifier.executionPlan())
        let fused = try plan.logits(input, observer: nil)
        let scale = max(1, expected.maxAbs)
        for sites in [ObservedSites.blocks, .all] {
            let planView = Observations(sites), layerView = Observations(sites)
            let observed = try plan.logits(input, observer: planView)
            _ = try model.classifier.forward(input, context: ForwardContext(observer: layerView))
            #expect(observed.maxAbsDifference(fused) <= 1e-4 * scale, "\(c.name) \(sites): observed vs unobserved plan")
            let fromPlan = planView.seen.withLock { $0 }, fromLayers = layerView.seen.withLock { $0 }
            #expect(fromPlan.map(\.0) == fromLayers.map(\.0), "\(c.name) \(sites): the same sites, in the same order")
            #expect(fromPlan.count > 2, "\(c.name): sites were observed")
            for ((site, a), (_, b)) in zip(fromPlan, fromLayers) {
                let tolerance = 1e-4 * max(1, b.maxAbs)
                #expect(a.shape == b.shape && a.maxAbsDifference(b) <= tolerance, "\(c.name): \(site) observed differently")
            }
        }
    }

    /// Batch sizes share one reordered copy of each convolution's weights, and every size gives
    /// each image the logits it gets alone, though oneDNN may pick another Winograd kernel for
    /// another batch size (F(2x2, 3x3) alone, F(4x4, 3x3) in larger batches).
    @Test func batchesGiveEachImageItsOwnLogits() throws {
        let c = try #require(Self.cases.first { $0.name == "resnet18_winograd" })
        let model = try CheckpointFolder.load(c.directory.path)
        let plan = try #require(model.classifier.executionPlan())
        let (input, _) = try ParityFixtures.io(c)
        let one = Tensor(shape: [1] + input.shape.dropFirst(), storage: Array(input.storage[0..<(input.count / input.shape[0])]))
        let alone = try plan.logits(one, observer: nil)
        for n in [2, 3, 8] {
            let batch = Tensor(shape: [n] + input.shape.dropFirst(), storage: Array((0..<n).map { _ in one.storage }.joined()))
            let logits = try plan.logits(batch, observer: nil)
            for i in 0..<n {
                let row = Tensor(shape: [1, logits.shape[1]], storage: Array(logits.storage[(i * logits.shape[1])..<((i + 1) * logits.shape[1])]))
                #expect(row.maxAbsDifference(alone) <= 1e-4 * max(1, alone.maxAbs), "batch \(n), image \(i)")
            }
        }
    }
}
