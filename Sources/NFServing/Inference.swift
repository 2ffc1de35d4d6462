import Dispatch
import Foundation
import NFDiagnostics
import NFImage
import NFLayers
import NFPipeline
import NFTensors
import Synchronization

/// Classifies requests: images are decoded and preprocessed on the request's side, several at
/// once (`decoding`); the forward passes run on the one compute pool, requests for the same
/// model batched together (`DynamicBatcher`; a policy of `maxBatchSize` 1 runs each alone).
public struct Inference: Sendable {
    public let pool: ComputePool
    public let metrics: any InferenceMetrics
    public let maxPixels: Int
    /// Every image classified also feeds its model's live BatchNorm input moments.
    public let live: LiveMonitors
    public let batchers: DynamicBatchers

    public init(
        pool: ComputePool, metrics: any InferenceMetrics, maxPixels: Int, live: LiveMonitors,
        batching: BatchingConfiguration = BatchingConfiguration()
    ) {
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
    public static let maxImagesPerRequest = BatchingPolicy.largestBatch

    private func checkBatch(_ n: Int) throws {
        if n > Self.maxImagesPerRequest {
            throw ServingError(.tooLarge, "\(n) images in one request; send at most \(Self.maxImagesPerRequest) per request")
        }
    }

    /// Decodes, preprocesses and classifies `images`: `[N, K]` logits. The request counts
    /// against the compute pool's bounds from before decoding (`overloaded` when full), with the bytes
    /// its preprocessed images will take.
    public func logits(_ model: ModelPipeline, images: [UploadedImage]) async throws -> Tensor {
        try checkBatch(images.count)
        let since = ContinuousClock.now
        let p = model.preprocessing
        let bytes = images.count * p.channels * p.height * p.width * MemoryLayout<Float>.stride
        try pool.admit(bytes: bytes)
        defer { pool.release(bytes: bytes) }
        // Its batch may wait for it while it decodes (`DynamicBatcher.announce`).
        let batcher = batchers.batcher(for: model)
        batcher.announce()
        let input: Tensor
        do {
            // A model whose passes use every core has the compute pool's threads help decode.
            input = try await decoding.run(helped: model.computeThreads(images: 1) != 1) { [maxPixels] in
                try model.input(encodedImages: images, maxPixels: maxPixels)
            }
        } catch {
            batcher.withdraw()
            throw error
        }
        return try await batcher.logits(input, announced: true, since: since)
    }

    /// Classifies an already preprocessed `[N, C, H, W]` batch: `[N, K]` logits.
    public func logits(_ model: ModelPipeline, input: Tensor) async throws -> Tensor {
        try checkBatch(input.shape[0])
        let bytes = input.count * MemoryLayout<Float>.stride
        try pool.admit(bytes: bytes)
        defer { pool.release(bytes: bytes) }
        return try await batchers.batcher(for: model).logits(input)
    }
}
