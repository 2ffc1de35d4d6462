import Dispatch
import Foundation
import Hummingbird
import HummingbirdTesting
import NFDiagnostics
import NFPipeline
import NFTensors
import NFTestSupport
import NIOCore
import Testing

@testable import NFServer
@testable import NFServing

/// Dynamic batching (`DynamicBatcher`, the driver of `BatchQueue`) on the tiny test model:
/// requests queued while the compute pool is busy share one forward pass and each gets the
/// logits it gets alone; inputs of another size are not mixed in; the queue's bound holds; a
/// cancelled request leaves the queue. The rules themselves, with their times, are
/// NFServingTests' `BatchQueueTests` (synthetic time, no sleep).
@Suite(.machineLoad(.shared)) struct DynamicBatchingTests {
    static func input(_ seed: Int, size: Int = 32, images: Int = 1) -> Tensor {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return Tensor(
            shape: [images, 1, size, size],
            storage: (0..<(images * size * size)).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
            })
    }

    static func inference(pool: ComputePool, policy: BatchingPolicy = BatchingPolicy()) -> Inference {
        Inference(
            pool: pool, metrics: ServerMetrics(), maxPixels: 1_000_000, live: LiveMonitors(enabled: true),
            batching: BatchingConfiguration(defaultPolicy: policy))
    }

    /// Yields until `condition` holds (no clock: the tasks it waits for need only to run).
    static func waitUntil(_ condition: () -> Bool) async {
        while !condition() { await Task.yield() }
    }

    /// Blocks the pool until the returned semaphore is signalled.
    static func block(_ pool: ComputePool) async throws -> (DispatchSemaphore, Task<Void, any Error>) {
        let gate = DispatchSemaphore(value: 0), started = CallCount()
        let blocker = Task {
            try await pool.run {
                started.increment()
                gate.wait()
            }
        }
        while started.value == 0 { await Task.yield() }
        return (gate, blocker)
    }

    @Test func queuedRequestsShareAPassAndKeepTheirOwnLogits() async throws {
        let pool = ComputePool(maxQueued: 64)
        let inference = Self.inference(pool: pool)
        let model = TestCheckpoints.tiny
        // Six single images, one request of three, and one image of another size.
        let inputs = (0..<6).map { Self.input($0) } + [Self.input(6, images: 3), Self.input(7, size: 40)]
        let (gate, blocker) = try await Self.block(pool)
        let tasks = inputs.map { input in Task { try await inference.logits(model, input: input) } }
        await Self.waitUntil { inference.batchers.batcher(for: model).waiting == inputs.count }  // all queued behind the blocker
        // What nfserve_queue_depth reports: the requests not yet in a pass, then none.
        #expect(inference.batchers.queueDepths == [model.name: inputs.count])
        gate.signal()
        try await blocker.value
        for (input, task) in zip(inputs, tasks) {
            let batched = try await task.value
            let alone = try model.logits(input: input)
            #expect(batched.shape == alone.shape)
            #expect(batched.maxAbsDifference(alone) <= 1e-5 * max(1, alone.maxAbs))
        }
        // Two passes: the 9 images of 32 px together, the 40 px image apart.
        #expect(inference.batchers.batcher(for: model).passes == 2)
        #expect(inference.batchers.queueDepths == [model.name: 0])
    }

    @Test func aBatchIsCutAtTheMaximumSize() async throws {
        let pool = ComputePool(maxQueued: 64)
        let inference = Self.inference(pool: pool, policy: BatchingPolicy(maxBatchSize: 4))
        let model = TestCheckpoints.tiny
        let (gate, blocker) = try await Self.block(pool)
        let tasks = (0..<10).map { seed in Task { try await inference.logits(model, input: Self.input(seed)) } }
        await Self.waitUntil { inference.batchers.batcher(for: model).waiting == 10 }
        gate.signal()
        try await blocker.value
        for task in tasks { _ = try await task.value }
        #expect(inference.batchers.batcher(for: model).passes == 3)  // 4 + 4 + 2
    }

    /// The delay is long and the batch small: the second request fills it and the pass starts
    /// at once. (With 2 s and batches of 8, a test task starved of the 2 cores for 2 s by other
    /// suites missed the wait, and `waitUntil` then looped forever: it hung a full run once.)
    @Test func aDelayLetsARequestWaitForCompany() async throws {
        let pool = ComputePool(maxQueued: 64)
        let inference = Self.inference(pool: pool, policy: BatchingPolicy(maxBatchSize: 2, maxDelay: .seconds(600)))
        let model = TestCheckpoints.tiny
        let first = Task { try await inference.logits(model, input: Self.input(0)) }
        await Self.waitUntil { inference.batchers.batcher(for: model).waiting == 1 }
        let second = Task { try await inference.logits(model, input: Self.input(1)) }
        _ = try await (first.value, second.value)
        #expect(inference.batchers.batcher(for: model).passes == 1)
    }

    @Test func aCancelledRequestLeavesTheQueue() async throws {
        let pool = ComputePool(maxQueued: 1)  // the running job and one waiting request
        let inference = Self.inference(pool: pool)
        let model = TestCheckpoints.tiny
        let (gate, blocker) = try await Self.block(pool)
        let waiting = Task { try await inference.logits(model, input: Self.input(0)) }
        await Self.waitUntil { inference.batchers.batcher(for: model).waiting == 1 }
        await #expect(throws: ServingError.overloaded) { try await inference.logits(model, input: Self.input(1)) }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        let admitted = Task { try await inference.logits(model, input: Self.input(2)) }  // its place is free again
        await Self.waitUntil { inference.batchers.batcher(for: model).waiting == 1 }
        gate.signal()
        try await blocker.value
        let logits = try await admitted.value
        #expect(logits.maxAbsDifference(try model.logits(input: Self.input(2))) <= 1e-5)
        #expect(inference.batchers.batcher(for: model).passes == 1)
    }
}

/// The compute pool bounds the bytes of preprocessed input waiting, not only the requests.
@Suite struct QueuedBytesTests {
    @Test func bytesBeyondTheBoundAreRefusedButOneRequestAlwaysFits() throws {
        let pool = ComputePool(maxQueued: 64, maxQueuedBytes: 1000)
        try pool.admit(bytes: 5000)  // alone: admitted whatever its size
        #expect(throws: ServingError.overloaded) { try pool.admit(bytes: 1) }
        pool.release(bytes: 5000)
        try pool.admit(bytes: 600)
        #expect(throws: ServingError.overloaded) { try pool.admit(bytes: 600) }
        try pool.admit(bytes: 400)
        pool.release(bytes: 600)
        pool.release(bytes: 400)
        try pool.admit(bytes: 1000)
    }
}
