import Dispatch
import Foundation
import NFImage
import NFPipeline
import NFLayers
import NFRequestFormats
import NFTensors
import Synchronization

/// Runs models on the compute pool and records how long each batch took. Images are decoded
/// and preprocessed on the request's side, several at once (`decoding`); the forward passes run
/// on the one compute pool, requests for the same model batched together (`DynamicBatcher`).
struct Inference: Sendable {
    let pool: ComputePool
    let metrics: ServerMetrics
    let maxPixels: Int
    /// Every image classified also feeds its model's live BatchNorm input moments.
    let live: LiveMonitors
    let batchers: DynamicBatchers

    init(pool: ComputePool, metrics: ServerMetrics, maxPixels: Int, live: LiveMonitors,
         batching: BatchingConfiguration = BatchingConfiguration()) {
        self.pool = pool
        self.metrics = metrics
        self.maxPixels = maxPixels
        self.live = live
        batchers = DynamicBatchers(configuration: batching, pool: pool, metrics: metrics, live: live)
        decoding = DecodeLanes(count: ProcessInfo.processInfo.activeProcessorCount, helper: pool)
    }

    /// Where images are decoded and preprocessed: off the event loops, on background lanes and,
    /// between forward passes, on the compute pool's threads (`DecodeLanes`).
    private let decoding: DecodeLanes

    /// Images one request may carry. The body limit bounds the bytes, not the count: tiny
    /// encoded images each become a full-size tensor, and a forward pass's memory grows with
    /// the batch, so without this a 20 MiB body of 70-byte PNGs could ask for 100+ GB.
    static let maxImagesPerRequest = BatchingPolicy.largestBatch

    private func checkBatch(_ n: Int) throws {
        if n > Self.maxImagesPerRequest {
            throw APIError(.contentTooLarge, "\(n) images in one request; send at most \(Self.maxImagesPerRequest) per request")
        }
    }

    /// Decodes, preprocesses and classifies `images`: `[N, K]` logits. The request counts
    /// against the compute pool's bounds from before decoding (503 when full), with the bytes
    /// its preprocessed images will take.
    func logits(_ model: ModelPipeline, images: [UploadedImage]) async throws -> Tensor {
        try checkBatch(images.count)
        let p = model.preprocessing
        let bytes = images.count * p.channels * p.height * p.width * MemoryLayout<Float>.stride
        try pool.admit(bytes: bytes)
        defer { pool.release(bytes: bytes) }
        // Its batch may wait for it while it decodes (`DynamicBatcher.announce`).
        let batcher = batchers.policy(for: model).maxBatchSize > 1 ? batchers.batcher(for: model) : nil
        batcher?.announce()
        let input: Tensor
        do {
            // A model whose passes use every core has the compute pool's threads help decode.
            input = try await decoding.run(helped: model.computeThreads(images: 1) != 1) { [maxPixels] in
                try model.input(encodedImages: images, maxPixels: maxPixels)
            }
        } catch {
            batcher?.withdraw()
            throw error
        }
        if let batcher { return try await batcher.logits(input, announced: true) }
        return try await forward(model, input)
    }

    /// Classifies an already preprocessed `[N, C, H, W]` batch: `[N, K]` logits.
    func logits(_ model: ModelPipeline, input: Tensor) async throws -> Tensor {
        try checkBatch(input.shape[0])
        let bytes = input.count * MemoryLayout<Float>.stride
        try pool.admit(bytes: bytes)
        defer { pool.release(bytes: bytes) }
        return try await forward(model, input)
    }

    /// An admitted request's forward pass: in a batch with other requests for the model, unless
    /// its policy turns batching off.
    private func forward(_ model: ModelPipeline, _ input: Tensor) async throws -> Tensor {
        if batchers.policy(for: model).maxBatchSize > 1 { return try await batchers.batcher(for: model).logits(input) }
        return try await timed(model, images: input.shape[0]) { try model.logits(input: input, context: $0) }
    }

    /// Runs `work` on the pool with a context carrying the live-ESM recorder (when on), and
    /// records the time and, once the logits are back, the recorder's moments (not for an input
    /// whose logits are not finite: it is refused, and must not skew the live statistics).
    private func timed(_ model: ModelPipeline, images: Int,
                       _ work: @escaping @Sendable (ForwardContext) throws -> Tensor) async throws -> Tensor {
        let (logits, recorder) = try await pool.perform { [metrics, live] in
            let recorder = live.recorder(for: model)
            let start = ContinuousClock.now
            do {
                let logits = try work(ForwardContext(observer: recorder))
                metrics.recordInference(model: model.name, images: images, duration: ContinuousClock.now - start)
                return (logits, recorder)
            } catch {
                if let recorder { live.discard(recorder) }
                throw error
            }
        }
        if let recorder {
            if logits.storage.allSatisfy(\.isFinite) { live.record(recorder, model: model, images: images) } else { live.discard(recorder) }
        }
        return logits
    }
}

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
///   watchdog when a job has waited `patience`: the compute thread runs at normal priority,
///   so a decode waits at most about that, plus the passes queued before it, however busy
///   other processes or an endless stream of already decoded inputs keep the cores.
final class DecodeLanes: Sendable {
    private struct Queue {
        var jobs: [(job: @Sendable () -> Void, queued: ContinuousClock.Instant)] = []
        var head = 0
        /// A help request is on the compute pool and has not started yet.
        var helpPosted = false
        var watching = false
        var count: Int { jobs.count - head }
        var oldest: ContinuousClock.Instant? { head < jobs.count ? jobs[head].queued : nil }

        mutating func pop() -> (@Sendable () -> Void)? {
            guard head < jobs.count else { return nil }
            let job = jobs[head].job
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            return job
        }

        /// Whether to post a help request now (marking it posted).
        mutating func postsHelp() -> Bool {
            defer { helpPosted = true }
            return !helpPosted
        }
    }

    /// How long a job may wait before the compute thread is asked to run it.
    static let patience = Duration.milliseconds(20)

    private let queue = Mutex(Queue())
    private let lanes: [WorkerThread]
    private let next = Atomic<Int>(0)
    private let helper: ComputePool

    init(count: Int, helper: ComputePool) {
        // No lanes (tests only): every job waits for the compute thread.
        lanes = (0..<max(count, 0)).map { WorkerThread(name: "nfserve.decode.\($0)", background: true) }
        self.helper = helper
    }

    func run<T: Sendable>(helped: Bool, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(helped: helped) { continuation.resume(with: Result { try work() }) }
        }
    }

    private func enqueue(helped: Bool, _ job: @escaping @Sendable () -> Void) {
        let (askHelp, watch) = queue.withLock { queue in
            queue.jobs.append((job, ContinuousClock.now))
            let watch = !queue.watching
            queue.watching = true
            return (helped && queue.postsHelp(), watch)
        }
        if !lanes.isEmpty { lanes[next.add(1, ordering: .relaxed).oldValue % lanes.count].async { self.take()?() } }
        if askHelp { helper.submit { self.help() } }
        if watch { watchAfter(Self.patience) }
    }

    private func take() -> (@Sendable () -> Void)? { queue.withLock { $0.pop() } }

    /// Jobs queued and not started.
    var queued: Int { queue.withLock { $0.count } }

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
            if askHelp { self.helper.submit { self.help() } }
            if again { self.watchAfter(Self.patience) }
        }
    }

    /// On the compute pool: the jobs queued now (not those that come meanwhile, which would keep
    /// the next pass waiting), on the OpenMP threads.
    private func help() {
        let queued = queue.withLock { queue in
            queue.helpPosted = false
            return queue.count
        }
        guard queued > 0 else { return }
        let taken = Atomic<Int>(0)
        parallelFor(min(queued, availableComputeThreads)) { _ in
            while taken.add(1, ordering: .relaxed).oldValue < queued, let job = take() { job() }
        }
    }
}
