import NIOCore

/// How one model's work is ordered against other models' on the compute thread (its folder's
/// `nfserve.json`, or `--priority` / `--latency-target-ms`; `GET /models/{m}` reports it).
public struct ModelScheduling: Sendable, Equatable {
    /// Higher goes first when models wait at once, and a model's passes are never interrupted for
    /// a model of lower priority. Default 0.
    public var priority: Int
    /// How long a request of this model may wait for another model's pass to end: within it, a
    /// long pass of another model runs to its end first; past it (or when that pass would run past
    /// it), the pass lets this model's passes run between its steps (`ComputeSchedule`). Default
    /// zero: as soon as the running pass reaches a step boundary.
    public var latencyTarget: Duration

    public init(priority: Int = 0, latencyTarget: Duration = .zero) {
        self.priority = priority
        self.latencyTarget = latencyTarget
    }
}

/// The order of the compute thread's work across models, as a state machine: it is told what is
/// queued, started and finished and when (`now`, time since any fixed origin), and answers what
/// runs next; it reads no clock and runs nothing. `ComputePool` drives it.
///
/// Work comes in lanes, one per model (its batcher's passes), one for decoding help
/// (`decodeLane`) and one for everything else (`otherLane`). Two decisions:
///
/// - **Between jobs** (`next`): a job that has waited `agingLimit` or longer goes first, oldest
///   first; otherwise the lane of highest priority; among equals a short lane (its expected time
///   at most `shortShare` of the longest waiting: it would run between the long pass's steps
///   anyway, and first it does not wait for the pass's first step, which in resnet50 is the stem's
///   7x7 convolution, a tenth of the pass), then the earliest deadline (oldest arrival plus the
///   lane's latency target), then arrival. Nothing starves: every job becomes overdue after
///   `agingLimit`, and overdue jobs go oldest first.
/// - **At a step boundary of a running pass** (`interleaved`): another lane's job runs there,
///   nested in the pass, when all of these hold:
///   - its lane's priority is at least the running lane's;
///   - its passes are short beside the running one (its expected time at most `shortShare` of
///     the running lane's), so a long model never interleaves with another long one (they
///     alternate between passes);
///   - waiting for the running pass to end would pass its deadline (its latency target);
///   - the work interleaved in this pass so far is at most `interleaveShare` of the pass's own
///     time: under any load the running model keeps at least half of the compute thread.
///   Decoding help (`decodeLane`) is short by nature and always eligible.
/// A lane's expected time is learned from its jobs' own durations (a running pass's excludes
/// what was interleaved into it); a lane that has not run yet is not interleaved.
struct ComputeSchedule<Job> {
    static var decodeLane: String { "\u{0}decode" }
    static var otherLane: String { "\u{0}other" }
    /// Work that waited this long goes before any other that has not.
    static var agingLimit: Duration { .seconds(1) }
    /// A lane interleaves only if its jobs take at most this share of the running lane's.
    static var shortShare: Double { 0.25 }
    /// Work interleaved into one pass may take up to this share of the pass's own time.
    static var interleaveShare: Double { 1.0 }

    private struct Waiting {
        let job: Job
        let queued: Duration
        let order: Int
    }

    private struct Lane {
        var settings: ModelScheduling
        var jobs = CircularBuffer<Waiting>()
        /// A moving average of its jobs' own durations; nil before the first.
        var expected: Duration?

        mutating func learn(_ took: Duration) {
            guard let expected else {
                self.expected = took
                return
            }
            self.expected = expected * 0.7 + took * 0.3
        }
    }

    /// The job the compute thread runs at the top level: its lane, when it started, and the time
    /// of the work interleaved into it so far.
    struct Running: Equatable {
        let lane: String
        let started: Duration
        var interleaved: Duration = .zero
    }

    private var lanes: [String: Lane] = [:]
    private var arrivals = 0
    private(set) var running: Running?

    /// Jobs queued and not started.
    var queued: Int { lanes.values.reduce(0) { $0 + $1.jobs.count } }

    /// What this lane's jobs are expected to take (nil before its first).
    func expected(_ lane: String) -> Duration? { lanes[lane]?.expected }

    /// `job` of `lane` (scheduled with `settings`, which replace the lane's earlier ones) is queued.
    mutating func enqueue(_ job: Job, lane: String, settings: ModelScheduling, now: Duration) {
        arrivals += 1
        lanes[lane, default: Lane(settings: settings)].settings = settings
        lanes[lane]!.jobs.append(Waiting(job: job, queued: now, order: arrivals))
    }

    /// Between jobs: the job to run at the top level now, which becomes `running`; nil when none
    /// waits. Call `finished(now:)` when it ends.
    mutating func next(now: Duration) -> (job: Job, lane: String)? {
        precondition(running == nil, "one job at a time at the top level")
        guard let lane = first(now: now, among: { _, _ in true }) else { return nil }
        running = Running(lane: lane, started: now)
        return (lanes[lane]!.jobs.removeFirst().job, lane)
    }

    /// The top-level job ended `now`: its lane learns its own time (without what was interleaved).
    mutating func finished(now: Duration) {
        guard let ended = running else { return }
        running = nil
        lanes[ended.lane]?.learn(now - ended.started - ended.interleaved)
    }

    /// At a step boundary of the running pass: the job to run there, nested in it, if any
    /// (the rules above). Report its time with `interleavedJob(lane:took:)`.
    mutating func interleaved(now: Duration) -> (job: Job, lane: String)? {
        guard let running, let host = lanes[running.lane] else { return nil }
        let own = now - running.started - running.interleaved
        guard running.interleaved <= own * Self.interleaveShare else { return nil }
        let remaining = max(.zero, (host.expected ?? own) - own)
        let lane = first(now: now) { name, lane in
            guard name != running.lane, name != Self.otherLane else { return false }
            if name == Self.decodeLane { return true }
            guard lane.settings.priority >= host.settings.priority, let expected = lane.expected,
                let hostExpected = host.expected, expected <= hostExpected * Self.shortShare
            else { return false }
            return lane.jobs.first!.queued + lane.settings.latencyTarget <= now + remaining
        }
        guard let lane else { return nil }
        return (lanes[lane]!.jobs.removeFirst().job, lane)
    }

    /// A job run at a step boundary (or decoding done there, `decodeLane`) took `took`: it counts
    /// against the running pass's share, and its lane learns its time.
    mutating func interleavedJob(lane: String, took: Duration) {
        running?.interleaved += took
        if lane != Self.decodeLane { lanes[lane]?.learn(took) }
    }

    /// The lane whose oldest job goes first among those `eligible` allows, by the order above.
    private func first(now: Duration, among eligible: (String, Lane) -> Bool) -> String? {
        let waiting = lanes.filter { !$0.value.jobs.isEmpty && eligible($0.key, $0.value) }
        let longest = waiting.values.compactMap(\.expected).max() ?? .zero
        var best: (name: String, key: (Int, Int, Int, Duration, Int))?
        for (name, lane) in waiting {
            let oldest = lane.jobs.first!
            let overdue = now - oldest.queued >= Self.agingLimit
            let short = lane.expected.map { $0 <= longest * Self.shortShare } ?? false
            // Overdue: oldest first whatever the priority. Otherwise priority, short, deadline, arrival.
            let key =
                overdue
                ? (0, 0, 0, oldest.queued, oldest.order)
                : (1, -lane.settings.priority, short ? 0 : 1, oldest.queued + lane.settings.latencyTarget, oldest.order)
            if best == nil || key < best!.key { best = (name, key) }
        }
        return best?.name
    }
}
