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

/// The server's batching and scheduling: defaults and per-model overrides from the flags
/// (`--max-batch-size`, `--max-batch-delay-ms`, `--model-batching NAME=SIZE[:DELAY_MS]`,
/// `--priority NAME=N`, `--latency-target-ms NAME=MS`). For each setting of a model: its flag,
/// else its folder's `nfserve.json` (`ModelSettings`), else the default.
public struct BatchingConfiguration: Sendable, Equatable {
    public var defaultPolicy: BatchingPolicy
    public var perModel: [String: BatchingPolicy]
    /// Priorities and latency targets from the flags, by model (their other fields unused).
    public var scheduling: [String: ModelSettings]

    public init(
        defaultPolicy: BatchingPolicy = BatchingPolicy(), perModel: [String: BatchingPolicy] = [:],
        scheduling: [String: ModelSettings] = [:]
    ) {
        self.defaultPolicy = defaultPolicy
        self.perModel = perModel
        self.scheduling = scheduling
    }

    public func policy(for model: ModelPipeline) -> BatchingPolicy {
        if let flag = perModel[model.name] { return flag }
        var policy = defaultPolicy
        if let size = model.settings.maxBatchSize { policy.maxBatchSize = size }
        if let delay = model.settings.maxBatchDelay { policy.maxDelay = delay }
        return policy
    }

    public func scheduling(for model: ModelPipeline) -> ModelScheduling {
        let flag = scheduling[model.name], file = model.settings
        return ModelScheduling(
            priority: flag?.priority ?? file.priority ?? 0, latencyTarget: flag?.latencyTarget ?? file.latencyTarget ?? .zero)
    }
}

/// Gathers concurrent requests for one version of one model into batches and runs them on the
/// compute pool, one forward pass per batch, then hands each request its rows of the logits.
///
/// The rules are `BatchQueue`'s; this driver owns what they leave out: the clock (time since
/// the batcher was made), the timer (`DispatchQueue.global().asyncAfter`), the compute pool,
/// cancellation and the passes themselves (`ObservedPass`: one live-ESM recorder per batch).
public final class DynamicBatcher: Sendable {
    private struct Pending: Sendable {
        let input: Tensor
        let continuation: CheckedContinuation<Tensor, any Error>
        /// When it was admitted (its queue time counts from there).
        let since: ContinuousClock.Instant
    }

    public let model: ModelPipeline
    public let policy: BatchingPolicy
    public let scheduling: ModelScheduling
    private let pool: ComputePool
    private let timings: ModelTimings
    private let metrics: any InferenceMetrics
    private let live: LiveMonitors
    private let queue: Mutex<BatchQueue<Pending>>
    private let nextID = Atomic<UInt64>(0)
    private let origin = ContinuousClock.now
    /// Forward passes run so far (each serving one batch).
    private let passCount = Atomic<Int>(0)
    public var passes: Int { passCount.load(ordering: .relaxed) }
    /// Requests waiting for a pass.
    var waiting: Int { queue.withLock { $0.pending.count } }
    /// Requests admitted for this model and not yet in a forward pass: waiting, or still
    /// being decoded (`nfserve_queue_depth`).
    public var queueDepth: Int { queue.withLock { $0.pending.count + $0.incoming } }

    public init(
        model: ModelPipeline, policy: BatchingPolicy, scheduling: ModelScheduling = ModelScheduling(), pool: ComputePool,
        metrics: any InferenceMetrics, live: LiveMonitors, timings: ModelTimings = ModelTimings()
    ) {
        self.model = model
        self.policy = policy
        self.scheduling = scheduling
        self.timings = timings
        self.pool = pool
        self.metrics = metrics
        self.live = live
        queue = Mutex(BatchQueue(policy: policy))
    }

    private var now: Duration { ContinuousClock.now - origin }

    /// A request for this model is being decoded and will come (`logits(_:announced: true)`)
    /// or be withdrawn (`withdraw`).
    public func announce() {
        let now = now
        queue.withLock { $0.announce(now: now) }
    }

    /// An announced request that will not come (its images did not decode, or it was cancelled).
    public func withdraw() {
        let now = now
        perform(queue.withLock { $0.withdraw(now: now) })
    }

    /// The logits of `input` (`[N, C, H, W]`), computed in a batch with other requests; the
    /// caller was admitted to the compute pool's bound already (`since`), and announced itself
    /// when `announced`. A cancelled request leaves the queue at once.
    public func logits(_ input: Tensor, announced: Bool = false, since: ContinuousClock.Instant = .now) async throws -> Tensor {
        // A request cancelled while its images decoded (its client left) joins no batch.
        if Task.isCancelled {
            if announced { withdraw() }
            throw CancellationError()
        }
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let now = now
                let action = queue.withLock {
                    $0.enqueue(
                        Pending(input: input, continuation: continuation, since: since), id: id, images: input.shape[0],
                        shape: Array(input.shape.dropFirst()), announced: announced, now: now)
                }
                perform(action)
            }
        } onCancel: {
            queue.withLock { $0.cancel(id: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    private func perform(_ action: BatchQueue<Pending>.Action) {
        switch action {
        case .none: break
        case .drain: pool.submit(model: model.name, scheduling: scheduling) { self.drain() }
        case let .wake(deadline, timer):
            let delay = deadline - now
            let nanoseconds = max(0, delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
                let now = self.now
                self.perform(self.queue.withLock { $0.timerFired(timer, now: now) })
            }
        }
    }

    /// On the compute queue: takes a batch, runs it as one pass and answers its requests.
    private func drain() {
        let taken = queue.withLock { $0.takeBatch() }
        let batch = taken.batch
        if taken.again { pool.submit(model: model.name, scheduling: scheduling) { self.drain() } }
        guard !batch.isEmpty else { return }
        let start = ContinuousClock.now
        for entry in batch {
            metrics.recordQueue(model: model.name, duration: start - entry.item.since)
            timings.recordQueue(model: model.name, start - entry.item.since)
        }
        let images = batch.reduce(0) { $0 + $1.images }
        let input: Tensor
        if batch.count == 1 {
            input = batch[0].item.input
        } else {
            // Copied on every core (OpenMP's threads wait for this pass anyway): resnet50's batch
            // of 8 is 4.8 MB, 0.35 ms on one.
            let offsets = batch.reduce(into: [0]) { $0.append($0[$0.count - 1] + $1.item.input.count) }
            input = Tensor(shape: [images] + batch[0].shape) { buffer in
                let base = buffer.baseAddress!
                parallelFor(batch.count) { i in
                    batch[i].item.input.storage.withUnsafeBufferPointer { (base + offsets[i]).update(from: $0.baseAddress!, count: $0.count) }
                }
            }
        }
        passCount.wrappingAdd(1, ordering: .relaxed)
        do {
            let pass = try ObservedPass(model: model, input: input, live: live, metrics: metrics, pool: pool)
            timings.recordPass(model: model.name, pass.duration)
            let now = now
            queue.withLock { $0.passEnded(images: images, took: pass.duration, now: now) }
            let classes = pass.logits.shape[1]
            var row = 0
            for entry in batch {
                let rows = Array(pass.logits.storage[(row * classes)..<((row + entry.images) * classes)])
                entry.item.continuation.resume(returning: Tensor(shape: [entry.images, classes], storage: rows))
                row += entry.images
            }
            pass.finish()
        } catch {
            for entry in batch { entry.item.continuation.resume(throwing: error) }
        }
        let now = now
        perform(queue.withLock { $0.passFinished(now: now) })
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
    /// Each model's recent queue and pass times.
    public let timings = ModelTimings()

    public init(configuration: BatchingConfiguration, pool: ComputePool, metrics: any InferenceMetrics, live: LiveMonitors) {
        self.configuration = configuration
        self.pool = pool
        self.metrics = metrics
        self.live = live
    }

    public func policy(for model: ModelPipeline) -> BatchingPolicy { configuration.policy(for: model) }

    public func scheduling(for model: ModelPipeline) -> ModelScheduling { configuration.scheduling(for: model) }

    /// Each model's requests not yet in a forward pass (`DynamicBatcher.queueDepth`), by name.
    public var queueDepths: [String: Int] { batchers.withLock { $0.mapValues(\.queueDepth) } }

    public func batcher(for model: ModelPipeline) -> DynamicBatcher {
        batchers.withLock { batchers in
            if let existing = batchers[model.name], existing.model.version === model.version { return existing }
            let made = DynamicBatcher(
                model: model, policy: configuration.policy(for: model), scheduling: configuration.scheduling(for: model),
                pool: pool, metrics: metrics, live: live, timings: timings)
            batchers[model.name] = made
            return made
        }
    }
}
