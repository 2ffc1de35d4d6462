import Dispatch
import NFTensors
import NIOCore
import Synchronization

/// Where images are decoded: one queue of jobs, run in arrival order by whichever gets to them
/// first, one at a time per thread:
/// - `count` background lanes (`WorkerThread`, `SCHED_IDLE`), which run only on cores nothing
///   else wants: a decode in the middle of a forward pass would stall both OpenMP threads;
/// - the compute pool's thread, in order with the passes, which then runs the jobs queued at
///   that moment on every OpenMP thread. It is asked (one request pending at a time) by jobs
///   `helped` (the images of models whose passes use every core: after such a pass the OpenMP
///   threads spin for some milliseconds before they sleep, and the lanes got only the other
///   core, so decoding the next batch took twice as long as on both; a small model's passes
///   run on one thread, and decoding on it would only take it from them), and by the
///   watchdog, which looks every `patience` while jobs are queued, when one has waited that
///   long: the compute thread runs at normal priority, so a decode waits at most about twice
///   `patience` plus the passes queued before it, however busy other processes or an endless
///   stream of already decoded inputs keep the cores;
/// - the compute pool's thread again at each step boundary of a long pass
///   (`ComputePool.decodesAtStepBoundaries`): during one, OpenMP's threads keep both cores busy
///   and the lanes get nothing, so a small model's image would otherwise wait for the pass to end
///   before its own pass could even be queued.
public final class DecodeLanes: Sendable {
    private struct Queue {
        var jobs = CircularBuffer<(job: @Sendable () -> Void, queued: ContinuousClock.Instant, helped: Bool)>()
        /// A help request is on the compute pool and has not started yet.
        var helpPosted = false
        /// The watchdog is armed.
        var watching = false
        var count: Int { jobs.count }
        var oldest: ContinuousClock.Instant? { jobs.first?.queued }

        mutating func pop() -> (job: @Sendable () -> Void, helped: Bool)? { jobs.popFirst().map { ($0.job, $0.helped) } }

        /// Whether to post a help request now (marking it posted).
        mutating func postsHelp() -> Bool {
            defer { helpPosted = true }
            return !helpPosted
        }
    }

    /// How long a job may wait before the compute thread is asked to run it.
    public static let patience = Duration.milliseconds(20)

    private let queue = Mutex(Queue())
    private let lanes: [WorkerThread]
    private let next = Atomic<Int>(0)
    private let helper: ComputePool

    public init(count: Int, helper: ComputePool) {
        // No lanes (tests only): every job waits for the compute thread.
        lanes = (0..<max(count, 0)).map { WorkerThread(name: "nfserve.decode.\($0)", background: true) }
        self.helper = helper
        helper.decodesAtStepBoundaries { [weak self] in self?.help() ?? 0 }
    }

    public func run<T: Sendable>(helped: Bool, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(helped: helped) { continuation.resume(with: Result { try work() }) }
        }
    }

    private func enqueue(helped: Bool, _ job: @escaping @Sendable () -> Void) {
        let (askHelp, watch) = queue.withLock { queue in
            queue.jobs.append((job, ContinuousClock.now, helped))
            let watch = !queue.watching
            queue.watching = true
            return (helped && queue.postsHelp(), watch)
        }
        if !lanes.isEmpty { lanes[next.add(1, ordering: .relaxed).oldValue % lanes.count].async { self.take()?.job() } }
        if askHelp { helper.submitDecoding { self.help() } }
        if watch { watchAfter(Self.patience) }
    }

    private func take() -> (job: @Sendable () -> Void, helped: Bool)? { queue.withLock { $0.pop() } }

    /// Jobs queued and not started.
    public var queued: Int { queue.withLock { $0.count } }

    /// While jobs are queued, every `patience`: asks for help when the oldest has waited that long.
    private func watchAfter(_ delay: Duration) {
        let nanoseconds = Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
            let (askHelp, again) = self.queue.withLock { queue -> (Bool, Bool) in
                guard let oldest = queue.oldest else {
                    queue.watching = false
                    return (false, false)
                }
                return (ContinuousClock.now - oldest >= Self.patience && queue.postsHelp(), true)
            }
            if askHelp { self.helper.submitDecoding { self.help() } }
            if again { self.watchAfter(Self.patience) }
        }
    }

    /// On the compute pool: the jobs queued now (not those that come meanwhile, which would keep
    /// the next pass waiting), on the OpenMP threads. Returns how many were for models that do
    /// not help decode (small ones, whose passes may run between a long pass's steps).
    @discardableResult
    private func help() -> Int {
        let queued = queue.withLock { queue in
            queue.helpPosted = false
            return queue.count
        }
        guard queued > 0 else { return 0 }
        let taken = Atomic<Int>(0), small = Atomic<Int>(0)
        parallelFor(min(queued, availableComputeThreads)) { _ in
            while taken.add(1, ordering: .relaxed).oldValue < queued, let next = take() {
                next.job()
                if !next.helped { small.add(1, ordering: .relaxed) }
            }
        }
        return small.load(ordering: .relaxed)
    }
}
