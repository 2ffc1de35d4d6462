/// The rules of dynamic batching for one model, as a state machine: it is told what happens and
/// when (`now`, time since any fixed origin), and answers what to do (`BatchQueue.Action`); it
/// reads no clock and runs nothing. `DynamicBatcher` drives it with the real clock, a timer and
/// the compute pool.
///
/// Rules (`BatchingPolicy`): a batch holds at most `maxBatchSize` images of one `[C, H, W]`;
/// with `maxDelay` set, requests wait up to that long from the oldest one's arrival for company.
/// With no delay set, a large model's requests gather for up to `gatherShare` of its last pass
/// (not at all when that is under `minimumGather`, so small models never wait):
/// - for requests being decoded (announced): clients that sent at once share one pass;
/// - after a pass, for as many images as that pass and the requests waiting at its end held
///   (`expected`), as long as requests keep coming (each within `quietShare` of the pass of the
///   previous one, or of the pass's end), up to `gatherShare` of the pass after its end: clients
///   that send again when answered come back a few milliseconds apart. Requests that come after
///   that window go at once.
/// A pass of this model never starts while another of it runs: what arrives meanwhile is
/// decided on at its end.
struct BatchQueue<Item> {
    struct Entry {
        let id: UInt64
        let item: Item
        let images: Int
        let shape: [Int]
        /// When it joined the queue (what `maxDelay` counts from).
        let arrived: Duration
    }

    enum Action: Equatable {
        /// Nothing to do now.
        case none
        /// Start a pass: `takeBatch()` on the compute pool.
        case drain
        /// Call `timerFired(timer, now:)` at `deadline`; a later `wake` replaces it.
        case wake(at: Duration, timer: Int)
    }

    /// The longest a request waits for announced ones to join it: a tenth of the last pass.
    static var gatherShare: Double { 0.1 }
    /// Shorter waits are not worth a timer: the request goes at once.
    static var minimumGather: Duration { .milliseconds(1) }
    /// After a pass, the longest gap between arrivals that keeps its gathering going: a twentieth
    /// of it. (A fiftieth cut resnet50's gRPC batches at 8 clients to 6.7 images on average: eight
    /// 602 KB uploads over HTTP/2 come back more than 8 ms apart; with a twentieth, 7.7.)
    static var quietShare: Double { 0.05 }

    let policy: BatchingPolicy
    private(set) var pending: [Entry] = []
    /// A drain is on the compute queue (and will take what is pending when it runs).
    private var drainQueued = false
    /// The timer that is armed, if any (its number and deadline; a stale one is ignored).
    private var timer: (number: Int, deadline: Duration)?
    private var timersArmed = 0
    /// Requests announced whose images are still being decoded.
    private(set) var incoming = 0
    /// How long the last forward pass took (what a batch may wait for announced requests).
    private var lastPass = Duration.zero
    /// A pass of this model is running.
    private(set) var running = false
    /// Images the last pass and the requests at its end held, and when it ended.
    private var expected = 0
    private var passEnded: Duration?
    /// When a request last arrived, or was announced.
    private var lastArrival: Duration?

    init(policy: BatchingPolicy) { self.policy = policy }

    /// Images waiting for a pass.
    var waitingImages: Int { pending.reduce(0) { $0 + $1.images } }

    /// A request is being decoded and will be enqueued (`announced: true`) or withdrawn.
    mutating func announce(now: Duration) {
        incoming += 1
        lastArrival = now
    }

    /// An announced request that will not come (its images did not decode, or it was cancelled).
    mutating func withdraw(now: Duration) -> Action {
        incoming -= 1
        return decide(now: now)
    }

    /// A request of `images` images of `shape` joins the queue.
    mutating func enqueue(_ item: Item, id: UInt64, images: Int, shape: [Int], announced: Bool, now: Duration) -> Action {
        pending.append(Entry(id: id, item: item, images: images, shape: shape, arrived: now))
        if announced { incoming -= 1 }
        lastArrival = now
        return decide(now: now)
    }

    /// Takes the request `id` out of the queue (its client left); nil when it is not waiting.
    mutating func cancel(id: UInt64) -> Item? {
        guard let index = pending.firstIndex(where: { $0.id == id }) else { return nil }
        return pending.remove(at: index).item
    }

    /// The timer `number` went off.
    mutating func timerFired(_ number: Int, now: Duration) -> Action {
        guard timer?.number == number else { return .none }
        // Disarmed whatever follows: a timer left armed after every request it waited for was
        // cancelled would keep any later request from arming one.
        timer = nil
        // Decided afresh: requests that came meanwhile may have moved the end of the wait on.
        return decide(now: now)
    }

    /// On the compute pool, as a pass starts: the oldest request and every later one of the same
    /// shape, up to `maxBatchSize` images, and whether another drain must follow (what is left
    /// waited through this pass already: it goes next).
    mutating func takeBatch() -> (batch: [Entry], again: Bool) {
        guard let first = pending.first else {
            drainQueued = false
            return ([], false)
        }
        var taken = [first], images = first.images, rest: [Entry] = []
        for entry in pending.dropFirst() {
            if entry.shape == first.shape && images + entry.images <= policy.maxBatchSize {
                taken.append(entry)
                images += entry.images
            } else {
                rest.append(entry)
            }
        }
        pending = rest
        drainQueued = !rest.isEmpty
        running = true
        return (taken, !rest.isEmpty)
    }

    /// The pass that `takeBatch` started over `images` images took `duration` and ended `now`.
    mutating func passEnded(images: Int, took duration: Duration, now: Duration) {
        lastPass = duration
        expected = min(policy.maxBatchSize, images + waitingImages + incoming)
        passEnded = now
    }

    /// The pass is over (answered, or failed): what waits is decided on.
    mutating func passFinished(now: Duration) -> Action {
        running = false
        return decide(now: now)
    }

    /// What the queue does now: start a pass, wait (arming a timer), or nothing (a pass of this
    /// model runs or is queued, a timer that fires no later is armed, or nothing waits).
    private mutating func decide(now: Duration) -> Action {
        guard !drainQueued, !running, !pending.isEmpty else { return .none }
        let waiting = waitingImages
        if waiting < policy.maxBatchSize {
            let delay = wait(waiting: waiting, now: now)
            if delay > .zero {
                if let timer, timer.deadline <= now + delay { return .none }
                timersArmed += 1
                timer = (timersArmed, now + delay)
                return .wake(at: now + delay, timer: timersArmed)
            }
        }
        drainQueued = true
        timer = nil
        return .drain
    }

    /// How much longer what is pending waits (zero or less: not at all). Every wait has a fixed
    /// end, so a timer re-armed on firing ends too.
    private func wait(waiting: Int, now: Duration) -> Duration {
        if policy.maxDelay > .zero {
            // From the oldest request's arrival: one that waited through a pass may have used it up.
            return policy.maxDelay - (now - pending[0].arrived)
        }
        let gather = lastPass * Self.gatherShare
        guard gather >= Self.minimumGather else { return .zero }
        var until = now
        // Requests being decoded: up to a tenth of the last pass after the oldest arrived.
        if incoming > 0 { until = max(until, pending[0].arrived + gather) }
        // After a pass, while fewer than expected have come (or been announced) and they keep coming.
        if let ended = passEnded, waiting + incoming < expected {
            let end = ended + gather
            let lastSeen = max(ended, lastArrival ?? ended)
            until = max(until, min(end, lastSeen + lastPass * Self.quietShare))
        }
        return until - now
    }
}

extension BatchQueue.Entry: Sendable where Item: Sendable {}
extension BatchQueue: Sendable where Item: Sendable {}
