import Dispatch
import NFDiagnostics
import NFLayers
import NFPipeline
import NFTensors
import Synchronization

/// How requests for one model are batched (TorchServe's `batchSize` / `maxBatchDelay`,
/// Triton's `max_batch_size` / `max_queue_delay_microseconds`): at most `maxBatchSize` images
/// per forward pass; a request that finds the compute pool idle waits up to `maxDelay` for
/// others to join it. Under load batches form without any delay: requests gather while the
/// previous batch computes. `maxBatchSize` 1 turns batching off.
public struct BatchingPolicy: Sendable, Equatable {
    /// The largest batch size a policy may set: the most images one request may carry.
    public static let largestBatch = 64
    public var maxBatchSize: Int
    public var maxDelay: Duration

    public init(maxBatchSize: Int = 32, maxDelay: Duration = .zero) {
        self.maxBatchSize = maxBatchSize
        self.maxDelay = maxDelay
    }
}

/// The server's batching: a default and per-model overrides (`--max-batch-size`,
/// `--max-batch-delay-ms`, `--model-batching NAME=SIZE[:DELAY_MS]`).
public struct BatchingConfiguration: Sendable, Equatable {
    public var defaultPolicy: BatchingPolicy
    public var perModel: [String: BatchingPolicy]

    public init(defaultPolicy: BatchingPolicy = BatchingPolicy(), perModel: [String: BatchingPolicy] = [:]) {
        self.defaultPolicy = defaultPolicy
        self.perModel = perModel
    }

    public func policy(for model: String) -> BatchingPolicy { perModel[model] ?? defaultPolicy }
}

/// Gathers concurrent requests for one version of one model into batches and runs them on the
/// compute pool, one forward pass per batch, then hands each request its rows of the logits.
///
/// Only requests whose input has the same `[C, H, W]` share a pass. A cancelled request leaves
/// the queue at once. Live estimation shift: one recorder per batch, merged after the
/// answers, and only when every image of the batch gave finite logits.
///
/// With no delay set, a large model's requests gather for up to a tenth of its last pass (no
/// gathering when that is under 1 ms, so small models never wait):
/// - for requests whose images are still being decoded (announced, `announce`): clients that
///   all sent at once share one pass, decoded while the cores are free, instead of a first pass
///   of one or two images whose decoding the others' then interrupt;
/// - after a pass, for as many images as that pass and the requests waiting at its end held
///   (`expected`), as long as requests keep coming (each within a fiftieth of the pass of the
///   previous one, or of the pass's end), up to a tenth of the pass after its end: clients that
///   send again when answered come back a few milliseconds apart, and the first one back would
///   otherwise start a pass of its own while the rest queue behind it. Requests that arrive
///   independently of the answers (open load) come further apart than that, and cost a pass at
///   most a fiftieth of its time. Requests that come after the window go at once.
/// A pass of this model never starts while another of it runs: the requests that arrive
/// meanwhile are decided on at its end.
public final class DynamicBatcher: Sendable {
    private struct Pending {
        let id: UInt64
        let input: Tensor
        let continuation: CheckedContinuation<Tensor, any Error>
        /// When it joined the queue (what `maxDelay` counts from).
        let arrived = ContinuousClock.now
        var images: Int { input.shape[0] }
        var itemShape: ArraySlice<Int> { input.shape.dropFirst() }
    }

    private struct State {
        var pending: [Pending] = []
        var nextID: UInt64 = 0
        /// A drain is on the compute queue (and will take what is pending when it runs).
        var drainQueued = false
        /// A delay timer is running; `timer` tells a stale one from the current one.
        var timerArmed = false
        var timer = 0
        var timerDeadline = ContinuousClock.now
        /// Requests announced whose images are still being decoded.
        var incoming = 0
        /// How long the last forward pass took (what a batch may wait for announced requests).
        var lastPass = Duration.zero
        /// A pass of this model is running (what arrives meanwhile is decided on at its end).
        var running = false
        /// Images the last pass and the requests at its end held, and when it ended (they are
        /// waited for until a tenth of `lastPass` after that).
        var expected = 0
        var passEnded: ContinuousClock.Instant?
        /// Test hook: every pass counts as taking this long.
        var passOverride: Duration?
        /// When a request last arrived, or was announced (its decoding began).
        var lastArrival: ContinuousClock.Instant?
    }

    public let model: ModelPipeline
    public let policy: BatchingPolicy
    private let pool: ComputePool
    private let metrics: any InferenceMetrics
    private let live: LiveMonitors
    private let state = Mutex(State())
    /// Forward passes run so far (each serving one batch).
    private let passCount = Mutex(0)
    public var passes: Int { passCount.withLock { $0 } }

    public init(model: ModelPipeline, policy: BatchingPolicy, pool: ComputePool, metrics: any InferenceMetrics, live: LiveMonitors) {
        self.model = model
        self.policy = policy
        self.pool = pool
        self.metrics = metrics
        self.live = live
    }

    /// The longest a request waits for announced ones to join it: a tenth of the last pass.
    public static let gatherShare = 0.1
    /// Shorter waits are not worth a timer: the request goes at once.
    public static let minimumGather = Duration.milliseconds(1)
    /// After a pass, the longest gap between arrivals that keeps its gathering going: a fiftieth of it.
    public static let quietShare = 0.02

    /// A request for this model is being decoded and will come (`logits(_:announced: true)`)
    /// or be withdrawn (`withdraw`).
    public func announce() {
        state.withLock { state in
            state.incoming += 1
            state.lastArrival = ContinuousClock.now
        }
    }

    /// An announced request that will not come (its images did not decode, or it was cancelled).
    public func withdraw() {
        let next = state.withLock { state in
            state.incoming -= 1
            return decide(&state)
        }
        perform(next)
    }

    /// Test hook: as if the last pass, and every later one, had taken `duration`.
    public func assumePasses(take duration: Duration) {
        state.withLock { state in
            state.passOverride = duration
            state.lastPass = duration
        }
    }

    /// Test hook: as if the last pass had ended a tenth of it ago (its gathering window over).
    public func assumeWindowEnded() {
        state.withLock { $0.passEnded = ContinuousClock.now - $0.lastPass * Self.gatherShare }
    }

    /// Whether what is pending starts a pass now (marking the drain queued): unless one is
    /// queued already, or nothing waits.
    private func startsNow(_ state: inout State) -> Bool {
        guard !state.drainQueued, !state.running, !state.pending.isEmpty else { return false }
        state.drainQueued = true
        state.timerArmed = false
        return true
    }

    /// The logits of `input` (`[N, C, H, W]`), computed in a batch with other requests; the
    /// caller was admitted to the compute pool's bound already, and announced itself when
    /// `announced`.
    public func logits(_ input: Tensor, announced: Bool = false) async throws -> Tensor {
        // A request cancelled while its images decoded (its client left) joins no batch.
        if Task.isCancelled {
            if announced { withdraw() }
            throw CancellationError()
        }
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enqueue(Pending(id: id, input: input, continuation: continuation), announced: announced)
            }
        } onCancel: {
            cancel(id)
        }
    }

    private func enqueue(_ request: Pending, announced: Bool) {
        let next = state.withLock { state in
            state.pending.append(request)
            if announced { state.incoming -= 1 }
            state.lastArrival = request.arrived
            return decide(&state)
        }
        perform(next)
    }

    private enum Next { case nothing, drain, arm(Int, Duration) }

    /// What the queue does now: start a pass, wait (arming a timer), or nothing (a pass of this
    /// model runs or is queued, a timer is armed already, or nothing waits).
    private func decide(_ state: inout State) -> Next {
        guard !state.drainQueued, !state.running, !state.pending.isEmpty else { return .nothing }
        let waiting = state.pending.reduce(0) { $0 + $1.images }
        if waiting >= policy.maxBatchSize { return startsNow(&state) ? .drain : .nothing }
        let now = ContinuousClock.now
        let delay = wait(state, waiting: waiting, now: now)
        if delay <= .zero { return startsNow(&state) ? .drain : .nothing }
        // A timer that fires no later does (re-deciding then); one that would fire later is replaced.
        if state.timerArmed && state.timerDeadline <= now + delay { return .nothing }
        return arm(&state, delay, now: now)
    }

    private func arm(_ state: inout State, _ delay: Duration, now: ContinuousClock.Instant) -> Next {
        state.timerArmed = true
        state.timer += 1
        state.timerDeadline = now + delay
        return .arm(state.timer, delay)
    }

    /// How much longer what is pending waits (zero or less: not at all). Every wait has a fixed
    /// end (the oldest request's arrival plus the delay or the gathering share; the window's
    /// end), so a timer re-armed on firing ends too.
    private func wait(_ state: State, waiting: Int, now: ContinuousClock.Instant) -> Duration {
        if policy.maxDelay > .zero {
            // Counted from the oldest request's arrival: one that waited through a pass of this
            // model may have used its delay up already.
            return policy.maxDelay - (now - state.pending[0].arrived)
        }
        let gather = state.lastPass * Self.gatherShare
        guard gather >= Self.minimumGather else { return .zero }
        var until = now
        // Requests being decoded: up to a tenth of the last pass after the oldest arrived.
        if state.incoming > 0 { until = max(until, state.pending[0].arrived + gather) }
        // After a pass, while fewer than expected have come (or been announced) and they keep coming.
        if let ended = state.passEnded, waiting + state.incoming < state.expected {
            let end = ended + gather
            let lastSeen = max(ended, state.lastArrival ?? ended)
            until = max(until, min(end, lastSeen + state.lastPass * Self.quietShare))
        }
        return until - now
    }

    private func perform(_ next: Next) {
        switch next {
        case .nothing: break
        case .drain: pool.submit { self.drain() }
        case let .arm(timer, delay):
            let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { self.fire(timer) }
        }
    }

    private func fire(_ timer: Int) {
        let next = state.withLock { state -> Next in
            guard state.timerArmed, state.timer == timer else { return .nothing }
            // Disarmed whatever follows: when every request it waited for was cancelled, a timer
            // left armed kept any later request from arming one, and they waited forever.
            state.timerArmed = false
            // Decided afresh: requests that came meanwhile may have moved the end of the wait on.
            return decide(&state)
        }
        perform(next)
    }

    private func cancel(_ id: UInt64) {
        let removed: Pending? = state.withLock { state in
            guard let index = state.pending.firstIndex(where: { $0.id == id }) else { return nil }
            return state.pending.remove(at: index)
        }
        removed?.continuation.resume(throwing: CancellationError())
    }

    /// On the compute queue: takes the oldest request and every later one of the same shape, up
    /// to `maxBatchSize` images, runs them as one pass and answers them.
    private func drain() {
        let (batch, again): ([Pending], Bool) = state.withLock { state in
            guard let first = state.pending.first else {
                state.drainQueued = false
                return ([], false)
            }
            var taken = [first], images = first.images, rest: [Pending] = []
            for request in state.pending.dropFirst() {
                if request.itemShape == first.itemShape && images + request.images <= policy.maxBatchSize {
                    taken.append(request)
                    images += request.images
                } else {
                    rest.append(request)
                }
            }
            state.pending = rest
            // What is left has waited through this pass already: it goes next.
            state.drainQueued = !rest.isEmpty
            state.running = true
            return (taken, !rest.isEmpty)
        }
        if again { pool.submit { self.drain() } }
        guard !batch.isEmpty else { return }
        run(batch)
        let next = state.withLock { state in
            state.running = false
            return decide(&state)
        }
        perform(next)
    }

    private func run(_ batch: [Pending]) {
        let images = batch.reduce(0) { $0 + $1.images }
        let input: Tensor
        if batch.count == 1 {
            input = batch[0].input
        } else {
            var storage: [Float] = []
            storage.reserveCapacity(batch.reduce(0) { $0 + $1.input.count })
            for request in batch { storage += request.input.storage }
            input = Tensor(shape: [images] + batch[0].itemShape, storage: storage)
        }
        let recorder = live.recorder(for: model)
        passCount.withLock { $0 += 1 }
        let start = ContinuousClock.now
        let logits: Tensor
        do {
            logits = try model.logits(input: input, context: ForwardContext(observer: recorder))
        } catch {
            if let recorder { live.discard(recorder) }
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        let end = ContinuousClock.now
        state.withLock { state in
            state.lastPass = state.passOverride ?? end - start
            state.expected = min(policy.maxBatchSize, images + state.pending.reduce(0) { $0 + $1.images } + state.incoming)
            state.passEnded = end
        }
        metrics.recordInference(model: model.name, images: images, duration: end - start)
        let classes = logits.shape[1]
        var row = 0
        for request in batch {
            let rows = Array(logits.storage[(row * classes)..<((row + request.images) * classes)])
            request.continuation.resume(returning: Tensor(shape: [request.images, classes], storage: rows))
            row += request.images
        }
        if let recorder {
            if logits.storage.allSatisfy(\.isFinite) { live.record(recorder, model: model, images: images) } else { live.discard(recorder) }
        }
    }
}

/// The batchers of the served models, one per model version (a reloaded model gets a new one;
/// the old one finishes what it holds).
public final class DynamicBatchers: Sendable {
    private let batchers = Mutex<[String: DynamicBatcher]>([:])
    private let configuration: BatchingConfiguration
    private let pool: ComputePool
    private let metrics: any InferenceMetrics
    private let live: LiveMonitors

    public init(configuration: BatchingConfiguration, pool: ComputePool, metrics: any InferenceMetrics, live: LiveMonitors) {
        self.configuration = configuration
        self.pool = pool
        self.metrics = metrics
        self.live = live
    }

    public func policy(for model: ModelPipeline) -> BatchingPolicy { configuration.policy(for: model.name) }

    public func batcher(for model: ModelPipeline) -> DynamicBatcher {
        batchers.withLock { batchers in
            if let existing = batchers[model.name], existing.model.version === model.version { return existing }
            let made = DynamicBatcher(model: model, policy: configuration.policy(for: model.name), pool: pool,
                                      metrics: metrics, live: live)
            batchers[model.name] = made
            return made
        }
    }
}
