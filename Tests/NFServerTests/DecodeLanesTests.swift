import Synchronization
import Testing

@testable import NFServer
@testable import NFServing

/// Decoding's queue: a job asking for help runs on the compute pool's thread, in order with the
/// passes; any other job runs there too once it has waited `patience` (background lanes alone
/// could be starved for as long as the cores stay busy). Without lanes, the compute thread is
/// the only one that can run them.
@Suite struct DecodeLanesTests {
    @Test func helpedJobsRunOnTheComputeThreadBetweenPasses() async throws {
        let pool = ComputePool(maxQueued: 64)
        let lanes = DecodeLanes(count: 0, helper: pool)
        let (gate, blocker) = try await DynamicBatchingTests.block(pool)  // a pass in progress
        let order = Recorder()
        let decoded = Task { try await lanes.run(helped: true) { order.append("decode") } }
        while lanes.queued == 0 { try await Task.sleep(for: .milliseconds(1)) }
        // Queued well within the job's patience: only its own request for help puts it first.
        let nextPass = Task { try await pool.perform { order.append("pass") } }
        gate.signal()
        try await blocker.value
        try await decoded.value
        try await nextPass.value
        #expect(order.items == ["decode", "pass"], "decoded before the pass queued after it")
    }

    @Test func aJobNobodyTakesRunsOnTheComputeThreadAfterItsPatience() async throws {
        let lanes = DecodeLanes(count: 0, helper: ComputePool(maxQueued: 64))
        let start = ContinuousClock.now
        let value = try await lanes.run(helped: false) { 42 }
        let waited = ContinuousClock.now - start
        #expect(value == 42)
        #expect(waited >= DecodeLanes.patience && waited < .seconds(60))
    }

    @Test func lanesRunJobsWithoutTheComputeThread() async throws {
        let pool = ComputePool(maxQueued: 64)
        let lanes = DecodeLanes(count: 2, helper: pool)
        let (gate, blocker) = try await DynamicBatchingTests.block(pool)  // no help can run
        let ran = Recorder()
        let jobs = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await lanes.run(helped: false) {
                            ran.append("\(i)")
                            return i * i
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        // Background lanes run when a core is free: within a minute even beside other tests.
        let deadline = ContinuousClock.now + .seconds(60)
        while ran.items.count < 8 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ran.items.count == 8, "the lanes ran every job while the compute thread was blocked")
        gate.signal()
        try await blocker.value
        let values = try await jobs.value
        #expect(values.sorted() == (0..<8).map { $0 * $0 })
    }
}

private final class Recorder: Sendable {
    private let stored = Mutex<[String]>([])
    func append(_ item: String) { stored.withLock { $0.append(item) } }
    var items: [String] { stored.withLock { $0 } }
}
