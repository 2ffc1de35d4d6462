import Dispatch
import Synchronization

/// The one place inference runs: a serial queue off the event loops.
///
/// oneDNN already spreads each convolution over every core with OpenMP, so a single forward
/// pass uses the whole machine; running two at once would only make both slower (and thrash
/// the caches). Requests therefore queue here, one job at a time, and the queue is bounded:
/// beyond `maxQueued` waiting jobs a request is refused with 503 rather than left to time out.
final class ComputePool: Sendable {
    private let queue = DispatchQueue(label: "nfserve.compute", qos: .userInitiated)
    /// Jobs admitted and not yet finished (the running one included).
    private let admitted = Mutex(0)
    let maxQueued: Int
    /// What a job refused for a full queue is answered with.
    let overloaded: APIError

    init(maxQueued: Int, overloaded: APIError = .overloaded) {
        self.maxQueued = maxQueued
        self.overloaded = overloaded
    }

    /// Runs `work` on the pool and returns its result; throws `overloaded` at once
    /// when `maxQueued` jobs are already waiting behind the running one.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try admit()
        defer { release() }
        return try await perform(work)
    }

    /// Runs `work` on the pool for a caller that was admitted already (`admit()`).
    func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Counts one request against the bound (from before its images are decoded until its
    /// logits are back); throws `overloaded` when `maxQueued` requests already wait. Each
    /// admission is ended by `release()`.
    func admit() throws {
        let accepted = admitted.withLock { count in
            guard count <= maxQueued else { return false }
            count += 1
            return true
        }
        guard accepted else { throw overloaded }
    }

    func release() { admitted.withLock { $0 -= 1 } }

    /// Runs `work` on the pool, in order with everything else submitted (a batch's drain; its
    /// requests were admitted one by one).
    func submit(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }
}
