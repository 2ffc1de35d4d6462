import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A long-lived thread running the jobs given to it in order: the compute pool's, and each
/// decode lane's.
///
/// Not a serial DispatchQueue: its blocks may run on any of Dispatch's worker threads, and each
/// new thread that starts OpenMP work gets a team of OpenMP threads, and oneDNN a stream and
/// scratchpad, of its own (cold caches, pages faulted in again): resnet50's passes took 12%
/// longer served than alone, one client at a time.
///
/// `background`: the thread runs only on a core nothing else wants (Linux `SCHED_IDLE`). The
/// decode lanes are: OpenMP's threads spin on both cores during a forward pass, and an image
/// decoded in the middle of one stalled both of them (one preempted, the other waiting for it at
/// the next barrier); decoded between passes, it costs the pass nothing.
public final class WorkerThread: Sendable {
    /// What the thread and its owner share: the thread ends once the owner is gone and every
    /// job given to it has run.
    private final class Mailbox: Sendable {
        private let state = Mutex((jobs: [@Sendable () -> Void](), closed: false))
        private let ready = DispatchSemaphore(value: 0)

        func put(_ job: @escaping @Sendable () -> Void) {
            state.withLock { $0.jobs.append(job) }
            ready.signal()
        }

        func close() {
            state.withLock { $0.closed = true }
            ready.signal()
        }

        /// The next job, waiting for one; nil once closed and empty.
        func next() -> (@Sendable () -> Void)? {
            while true {
                ready.wait()
                let job: (@Sendable () -> Void)?? = state.withLock { state in
                    if !state.jobs.isEmpty { return state.jobs.removeFirst() }
                    return state.closed ? .some(nil) : nil
                }
                if let job { return job }
            }
        }
    }

    private let mailbox = Mailbox()

    public init(name: String, background: Bool = false) {
        let mailbox = self.mailbox
        let thread = Thread {
            if background { Self.runOnlyWhenIdle() }
            while let job = mailbox.next() { job() }
        }
        thread.name = name
        thread.start()
    }

    deinit { mailbox.close() }

    public func async(execute work: @escaping @Sendable () -> Void) { mailbox.put(work) }

    private static func runOnlyWhenIdle() {
        #if os(Linux)
        let schedIdle: Int32 = 5  // SCHED_IDLE in <sched.h>, hidden from Swift behind _GNU_SOURCE
        var parameters = sched_param()
        parameters.sched_priority = 0
        _ = sched_setscheduler(0, schedIdle, &parameters)
        #endif
    }
}
