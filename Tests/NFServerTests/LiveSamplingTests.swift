import Foundation
import Hummingbird
import HummingbirdTesting
import NFDiagnostics
import NFPipeline
import NFTensors
import NIOCore
import Testing

@testable import NFServer
@testable import NFServing

/// The live estimation shift's sampling under a budget: while a merge is pending no pass is
/// observed, and after it one is again once the budget allows; without a budget every pass is.
@Suite struct LiveSamplingTests {
    @Test func aBudgetSamplesPasses() async throws {
        let model = TestCheckpoints.tiny
        let live = LiveMonitors(enabled: true, budget: 1)
        let first = try #require(live.recorder(for: model))
        #expect(live.recorder(for: model) == nil, "a merge is pending: not observed")
        _ = try model.logits(input: DynamicBatchingTests.input(0), context: .init(observer: first))
        live.record(first, model: model, images: 1)
        let deadline = ContinuousClock.now + .seconds(10)
        var again: NormalizationRecorder?
        while again == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            again = live.recorder(for: model)
        }
        #expect(again != nil, "observed again once the merge is done")
        live.discard(try #require(again))
        #expect(live.monitor(for: model).all.images == 1)

        let every = LiveMonitors(enabled: true)
        let a = every.recorder(for: model), b = every.recorder(for: model)
        #expect(a != nil && b != nil)
    }
}
