import Dispatch
import Synchronization

/// The one place inference runs: one thread of its own, off the event loops, taking jobs in order.
///
/// oneDNN already spreads each convolution over every core with OpenMP, so a single forward
/// pass uses the whole machine; running two at once would only make both slower (and thrash
/// the caches). Requests therefore queue here, one job at a time, and the queue is bounded:
/// beyond `maxQueued` waiting jobs a request is refused (`ServingError.overloaded`) rather than left to time out.
public final class ComputePool: Sendable {
    private let queue = WorkerThread(name: "nfserve.compute")
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
    }

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
            queue.async {
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

    /// Runs `work` on the pool, in order with everything else submitted (a batch's drain; its
    /// requests were admitted one by one).
    public func submit(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }
}
