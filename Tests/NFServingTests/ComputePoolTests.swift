import Dispatch
import Foundation
import Synchronization
import Testing

@testable import NFServing

/// The compute pool's thread driving `ComputeSchedule` with the real clock: a short model's job
/// and waiting decodes run between the steps of a long job (`stepBoundary`), nowhere else.
/// Jobs here sleep instead of computing; the schedule's rules are tested over synthetic time in
/// `ComputeScheduleTests`.
@Suite(.serialized) struct ComputePoolTests {
    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func append(_ entry: String) { entries.withLock { $0.append(entry) } }
        var items: [String] { entries.withLock { $0 } }
    }

    /// Runs `work` on `pool` as `model`'s job and waits for it.
    static func run(_ pool: ComputePool, _ model: String, _ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            pool.submit(model: model, scheduling: ModelScheduling()) {
                work()
                continuation.resume()
            }
        }
    }

    /// Set once a job has started (awaited without blocking a thread of the test's pool).
    final class Started: Sendable {
        private let flag = Atomic<Bool>(false)
        func signal() { flag.store(true, ordering: .releasing) }
        var isSet: Bool { flag.load(ordering: .acquiring) }
        func wait() async throws {
            while !flag.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(1)) }
        }
    }

    /// A long pass: `steps` steps of 2 ms, the pool's step boundary between them.
    static func longPass(_ pool: ComputePool, steps: Int = 40, started: Started? = nil) -> @Sendable () -> Void {
        let boundary = pool.stepBoundary
        return {
            started?.signal()
            for step in 0..<steps {
                if step > 0 { boundary() }
                usleep(2000)
            }
        }
    }

    /// A pool that has seen one long pass of "big" and one short job of "small".
    static func warmedPool() async -> ComputePool {
        let pool = ComputePool(maxQueued: 64)
        await run(pool, "big", longPass(pool))
        await run(pool, "small") {}
        return pool
    }

    @Test func aShortModelsJobRunsBetweenTheStepsOfALongOne() async throws {
        let pool = await Self.warmedPool()
        let log = Log()
        let started = Started(), smallRan = Started()
        let boundary = pool.stepBoundary
        let ranAt = Mutex<ContinuousClock.Instant?>(nil)
        // Steps of 2 ms until the small job has run between two of them (at most 1 s): however
        // late this test's task resumes on a loaded machine, the small job meets the pass running.
        let big = Task {
            await Self.run(pool, "big") {
                started.signal()
                var step = 0
                while step < 500 && !smallRan.isSet {
                    if step > 0 { boundary() }
                    usleep(2000)
                    step += 1
                }
                log.append("big")
            }
        }
        try await started.wait()
        let submitted = ContinuousClock.now
        await Self.run(pool, "small") {
            ranAt.withLock { $0 = ContinuousClock.now }
            smallRan.signal()
            log.append("small")
        }
        await big.value
        #expect(log.items == ["small", "big"])
        // It waited for one 2 ms step, with room for a loaded machine; measured inside the job,
        // so the time this test's task takes to resume after it does not count.
        let waited = try #require(ranAt.withLock { $0 }) - submitted
        #expect(waited < .milliseconds(60))
    }

    @Test func otherWorkWaitsForTheLongJobToEnd() async throws {
        let pool = await Self.warmedPool()
        let log = Log()
        let started = Started()
        let long = Self.longPass(pool, started: started)
        let big = Task {
            await Self.run(pool, "big") {
                long()
                log.append("big")
            }
        }
        try await started.wait()
        // Work outside any model (a diagnostic's), and a model that has not run yet, wait.
        _ = try await pool.perform { log.append("other") }
        await Self.run(pool, "new") { log.append("new") }
        await big.value
        #expect(log.items == ["big", "other", "new"])
    }

    @Test func decodingWaitingRunsAtAStepBoundary() async throws {
        let pool = await Self.warmedPool()
        // No background lanes: only the compute thread decodes; a job not asking for help
        // would otherwise wait for its patience after the long job.
        let lanes = DecodeLanes(count: 0, helper: pool)
        let log = Log()
        let started = Started()
        let long = Self.longPass(pool, steps: 200, started: started)  // 400 ms
        let big = Task {
            await Self.run(pool, "big") {
                long()
                log.append("big")
            }
        }
        try await started.wait()
        let decoded = try await lanes.run(helped: false) {
            log.append("decoded")
            return 7
        }
        await big.value
        #expect(decoded == 7)
        #expect(log.items == ["decoded", "big"])
    }

    /// Every step boundary reaches the decoder through the same frames. Kept as a bare closure
    /// in a `Mutex`, each read through `withLock` wrapped it in two more reabstraction thunks, so
    /// each boundary called it one level deeper than the last and walked the whole chain. Served
    /// resnet50 int8 (release build, 2 cores): at 8 clients its passes averaged 99 ms (91 with
    /// the struct) over 13 s of load; at 4 clients with batching off, 6 minutes of load
    /// averaged 4.4 requests/s, 252 timed out, and the process ended with SIGSEGV as it stopped.
    @Test func aStepBoundaryReachesTheDecoderAtTheSameDepthEachTime() async {
        let pool = ComputePool(maxQueued: 4)
        let frames = Mutex<Set<Int>>([])
        pool.decodesAtStepBoundaries {
            var marker = 0
            let address = withUnsafeMutablePointer(to: &marker) { Int(bitPattern: $0) }
            frames.withLock { _ = $0.insert(address) }
            return 0
        }
        let boundary = pool.stepBoundary
        await Self.run(pool, "big") { for _ in 0..<1000 { boundary() } }
        #expect(frames.withLock { $0.count } == 1)
    }

    @Test func aBoundaryOffThePoolsThreadRunsNothing() async throws {
        let pool = await Self.warmedPool()
        let log = Log()
        let gate = DispatchSemaphore(value: 0)
        let started = Started()
        let blocker = Task {
            await Self.run(pool, "big") {
                started.signal()
                gate.wait()
            }
        }
        try await started.wait()
        let small = Task { await Self.run(pool, "small") { log.append("small") } }
        try await Task.sleep(for: .milliseconds(20))
        pool.stepBoundary()  // on this thread, not the pool's
        #expect(log.items.isEmpty)
        gate.signal()
        await blocker.value
        await small.value
        #expect(log.items == ["small"])
    }

    @Test func aPassTimeExcludesWhatRanBetweenItsSteps() async throws {
        let pool = await Self.warmedPool()
        let started = Started()
        let long = Self.longPass(pool, started: started)
        let before = pool.interleavedTime
        let big = Task { await Self.run(pool, "big", long) }
        try await started.wait()
        await Self.run(pool, "small") { usleep(30_000) }
        await big.value
        #expect(pool.interleavedTime - before >= .milliseconds(30))
    }
}
