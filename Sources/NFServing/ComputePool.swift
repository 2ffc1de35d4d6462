import Dispatch
import Foundation
import Synchronization

/// The one place inference runs: one thread of its own, off the event loops, taking jobs in the
/// order `ComputeSchedule` gives them, and running short models' passes between the steps of a
/// long one (`stepBoundary`).
///
/// oneDNN already spreads each convolution over every core with OpenMP, so a single forward
/// pass uses the whole machine; running two at once would only make both slower (and thrash
/// the caches). Requests therefore queue here, and the queue is bounded: beyond `maxQueued`
/// waiting jobs a request is refused (`ServingError.overloaded`) rather than left to time out.
///
/// Not a DispatchQueue: its blocks may run on any of Dispatch's worker threads, and each new
/// thread that starts OpenMP work gets a team of OpenMP threads, and oneDNN a stream and
/// scratchpad, of its own (cold caches, pages faulted in again): resnet50's passes took 12%
/// longer served than alone, one client at a time.
public final class ComputePool: Sendable {
    private let core = Core()
    /// Jobs admitted and not yet finished (the running one included), and the bytes of
    /// preprocessed input they hold or will hold.
    private let admitted = Mutex((count: 0, bytes: 0))
    public let maxQueued: Int
    /// The most bytes of preprocessed input admitted requests may hold at once: decoded images
    /// wait for their batch as tensors, and 64 requests of 64 tiny PNGs would otherwise hold
    /// gigabytes. One request is always admitted when nothing else is.
    public let maxQueuedBytes: Int
    /// What a job refused for a full queue is answered with.
    public let overloaded: ServingError
    /// Whether each job gives the memory it freed back to the system when it ends (the
    /// diagnostics' pool: its jobs are rare and can take gigabytes).
    public let returnsMemory: Bool

    public init(maxQueued: Int, maxQueuedBytes: Int = 512 << 20, overloaded: ServingError = .overloaded, returnsMemory: Bool = false) {
        self.maxQueued = maxQueued
        self.maxQueuedBytes = maxQueuedBytes
        self.overloaded = overloaded
        self.returnsMemory = returnsMemory
        let core = core
        let thread = Thread { core.serve() }
        thread.name = "nfserve.compute"
        thread.start()
    }

    deinit { core.close() }

    /// Runs `work` on the pool and returns its result; throws `overloaded` at once
    /// when `maxQueued` jobs are already waiting behind the running one.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try admit()
        defer { release() }
        return try await perform(work)
    }

    /// Runs `work` on the pool for a caller that was admitted already (`admit()`).
    public func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let returnsMemory = returnsMemory
        return try await withCheckedThrowingContinuation { continuation in
            core.put(lane: ComputeSchedule<Job>.otherLane, settings: ModelScheduling()) {
                let result = Result { try work() }
                if returnsMemory { MemoryReturn.now() }
                continuation.resume(with: result)
            }
        }
    }

    /// Counts one request, and the bytes of preprocessed input it will hold, against the bounds
    /// (from before its images are decoded until its logits are back); throws `overloaded` when
    /// `maxQueued` requests already wait or the bytes would pass `maxQueuedBytes`. Each
    /// admission is ended by `release(bytes:)` with the same bytes.
    public func admit(bytes: Int = 0) throws {
        let accepted = admitted.withLock { state in
            guard state.count <= maxQueued, state.count == 0 || state.bytes + bytes <= maxQueuedBytes else { return false }
            state.count += 1
            state.bytes += bytes
            return true
        }
        guard accepted else { throw overloaded }
    }

    /// Bytes of preprocessed input the admitted requests hold now.
    public var heldBytes: Int { admitted.withLock { $0.bytes } }

    public func release(bytes: Int = 0) {
        admitted.withLock { state in
            state.count -= 1
            state.bytes -= bytes
        }
    }

    /// Runs `work` on the pool, scheduled as `model`'s (a batch's drain; its requests were
    /// admitted one by one).
    public func submit(model: String, scheduling: ModelScheduling, _ work: @escaping @Sendable () -> Void) {
        core.put(lane: model, settings: scheduling, work)
    }

    /// Runs `work` on the pool before the passes that wait (decoding help).
    public func submitDecoding(_ work: @escaping @Sendable () -> Void) {
        core.put(lane: ComputeSchedule<Job>.decodeLane, settings: ModelScheduling(priority: .max), work)
    }

    /// What a pass running on the pool calls between its steps (`ForwardContext.stepBoundary`):
    /// there, decoding that waits runs (`decodesAtStepBoundaries`), then other models' passes the
    /// schedule lets in. Does nothing in a pass that itself runs at a step boundary, or off the
    /// pool's thread.
    public var stepBoundary: @Sendable () -> Void {
        let core = core
        return { core.boundary() }
    }

    /// Has `decode` run at each step boundary of a pass, before other models' passes: it runs the
    /// decoding jobs queued then and returns how many of them were for models whose passes may
    /// run at that boundary (their passes are then waited for, briefly: `Core.handoff`).
    public func decodesAtStepBoundaries(_ decode: @escaping @Sendable () -> Int) {
        core.boundaryDecoder.withLock { $0 = BoundaryDecoder(decode: decode) }
    }

    /// The time of all the work run at step boundaries so far: a pass's own time is its duration
    /// less what this grew by meanwhile.
    public var interleavedTime: Duration { core.state.withLock { $0.interleavedTotal } }

    typealias Job = @Sendable () -> Void

    /// The closure `decodesAtStepBoundaries` sets, in a struct. Not a bare closure in the `Mutex`:
    /// each read through `withLock` passes the value `inout` through the generic lock, which
    /// wrapped the closure in two more reabstraction thunks and stored that back, so each step
    /// boundary called it through a longer chain than the last.
    struct BoundaryDecoder: Sendable {
        let decode: @Sendable () -> Int
    }

    /// The state the compute thread and the pool share: the thread ends once the pool is gone and
    /// every job given to it has run.
    private final class Core: Sendable {
        struct State {
            var schedule = ComputeSchedule<Job>()
            var closed = false
            /// A job runs at a step boundary now (its own boundaries do nothing).
            var nested = false
            var interleavedTotal = Duration.zero
            /// The thread waits at a step boundary for a pass that decoding there will bring.
            var awaitingHandoff = false
        }

        /// The longest a step boundary waits, after decoding images there, for the passes of
        /// their requests to be queued (each request resumes on another thread).
        static let handoff = Duration.milliseconds(2)

        let state = Mutex(State())
        let boundaryDecoder = Mutex<BoundaryDecoder?>(nil)
        private let ready = DispatchSemaphore(value: 0)
        private let arrival = DispatchSemaphore(value: 0)
        private let origin = ContinuousClock.now
        private let thread = Mutex<pthread_t?>(nil)

        private var now: Duration { ContinuousClock.now - origin }

        func put(lane: String, settings: ModelScheduling, _ job: @escaping Job) {
            let now = now
            let handoff = state.withLock { state in
                state.schedule.enqueue(job, lane: lane, settings: settings, now: now)
                return state.awaitingHandoff
            }
            ready.signal()
            if handoff { arrival.signal() }
        }

        func close() {
            state.withLock { $0.closed = true }
            ready.signal()
        }

        /// The compute thread: each job the schedule gives, until closed with nothing queued.
        /// Jobs run at step boundaries consume no signal: some wakes find nothing to run.
        func serve() {
            thread.withLock { $0 = pthread_self() }
            while true {
                ready.wait()
                let now = now
                let next = state.withLock { state -> (job: Job?, stop: Bool) in
                    if let next = state.schedule.next(now: now) { return (next.job, false) }
                    return (nil, state.closed)
                }
                if next.stop { return }
                guard let job = next.job else { continue }
                job()
                let end = self.now
                state.withLock { $0.schedule.finished(now: end) }
            }
        }

        func boundary() {
            guard let thread = thread.withLock({ $0 }), pthread_equal(thread, pthread_self()) != 0,
                state.withLock({ !$0.nested && $0.schedule.running != nil })
            else { return }
            if let decode = boundaryDecoder.withLock({ $0 })?.decode {
                // The wait for the decoded requests' passes counts as decoding's time.
                nested(lane: ComputeSchedule<Job>.decodeLane) { if decode() > 0 { awaitHandoff() } }
            }
            while true {
                let now = now
                guard let (job, lane) = state.withLock({ $0.schedule.interleaved(now: now) }) else { return }
                nested(lane: lane, job)
            }
        }

        /// Runs `work` at a step boundary, its time counted as interleaved.
        private func nested<T>(lane: String, _ work: () -> T) -> T {
            state.withLock { $0.nested = true }
            let start = now
            let result = work()
            let took = now - start
            state.withLock { state in
                state.nested = false
                state.schedule.interleavedJob(lane: lane, took: took)
                state.interleavedTotal += took
            }
            return result
        }

        /// Waits up to `handoff` for the next job to be queued.
        private func awaitHandoff() {
            state.withLock { $0.awaitingHandoff = true }
            let nanoseconds = Int(Self.handoff.components.attoseconds / 1_000_000_000)
            _ = arrival.wait(timeout: .now() + .nanoseconds(nanoseconds))
            state.withLock { $0.awaitingHandoff = false }
            while arrival.wait(timeout: .now()) == .success {}
        }
    }
}
