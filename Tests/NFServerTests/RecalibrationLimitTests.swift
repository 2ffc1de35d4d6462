import Foundation
import NFDiagnostics
import NFPipeline
import Synchronization
import Testing

@testable import NFServing

/// A served recalibration's bounds, on the shipped BatchNorm checkpoint and the shipped 300-image
/// sample: it uses at most the service's image cap whatever `?limit=` asks, and it stops at the
/// next batch when its client leaves or its task is cancelled, in every pass (the moments before,
/// each layer's, the moments after, top-1), leaving the served statistics unchanged. Schemathesis
/// once sent `limit=33880455851` on the 60,000-image training set: the passes then ran for more
/// than 5 minutes, past the client's timeout and the shutdown grace.
@Suite(.serialized, .machineLoad(.shared)) struct RecalibrationLimitTests {
    static let name = EstimationShiftRouteTests.modelName

    static func service(maxImages: Int = EstimationShiftService.defaultMaxRecalibrationImages) -> EstimationShiftService {
        let store = ModelStore(
            entries: [
                .init(
                    name: name, directory: EstimationShiftRouteTests.repository.appendingPathComponent("checkpoints/\(name)").path,
                    status: .ready(EstimationShiftRouteTests.model))
            ], finished: true)
        return EstimationShiftService(
            store: store, pool: ComputePool(maxQueued: 2), datasets: EstimationShiftRouteTests.repository.appendingPathComponent("datasets").path,
            live: LiveMonitors(enabled: false), maxPixels: 1_000_000, maxRecalibrationImages: maxImages)
    }

    /// Counts the checks a recalibration makes.
    final class Checks: Sendable {
        private let count = Atomic<Int>(0)
        var made: Int { count.load(ordering: .relaxed) }
        func next() -> Int { count.add(1, ordering: .relaxed).newValue }
    }

    struct ClientGone: Error {}

    static let source = EstimationShiftSource.dataset(name: "fashion-mnist-sample", limit: 1_000_000_000_000)

    @Test func aLimitAboveTheCapUsesTheCap() async throws {
        let service = Self.service(maxImages: 70)
        let outcome = try await service.recalibrate(Self.name, source: Self.source, stillWanted: {})
        #expect(outcome.images == 70)
        #expect(outcome.top1 != nil)
        #expect(service.store.entry(named: Self.name)?.statistics == "recalibrated on dataset:fashion-mnist-sample (70 images)")
    }

    /// 100 images are 2 batches, and every pass asks before each: preprocessing, the moments
    /// before, each BatchNorm layer's pass, the moments after, and top-1 before and after.
    @Test func everyPassAsksBeforeEachBatch() async throws {
        let checks = Checks()
        _ = try await Self.service(maxImages: 100).recalibrate(Self.name, source: Self.source) { _ = checks.next() }
        let layers = EstimationShiftRouteTests.model.classifier.batchNormLayers.count
        #expect(layers > 10)
        #expect(checks.made == 2 * (5 + layers))
    }

    /// Leaving at check 7 is inside the first layer's pass; at the last check, inside the
    /// recalibrated network's top-1 pass.
    @Test(arguments: [7, 2 * (5 + EstimationShiftRouteTests.model.classifier.batchNormLayers.count)])
    func aClientThatLeavesStopsItThere(leavingAt: Int) async throws {
        let service = Self.service(maxImages: 100)
        let checks = Checks()
        await #expect(throws: ClientGone.self) {
            try await service.recalibrate(Self.name, source: Self.source) {
                if checks.next() == leavingAt { throw ClientGone() }
            }
        }
        #expect(checks.made == leavingAt, "no check after the client left")
        #expect(service.store.entry(named: Self.name)?.statistics == "checkpoint")
    }

    @Test func aCancelledTaskStopsAtTheNextBatch() async throws {
        let service = Self.service(maxImages: 100)
        let checks = Checks()
        // Its own task (not the test's, which the test library would count as a cancelled test).
        let recalibration = Task {
            try await service.recalibrate(Self.name, source: Self.source) {
                if checks.next() == 7 { withUnsafeCurrentTask { $0?.cancel() } }
            }
        }
        await #expect(throws: CancellationError.self) { try await recalibration.value }
        #expect(checks.made == 7)
        #expect(service.store.entry(named: Self.name)?.statistics == "checkpoint")
    }
}
