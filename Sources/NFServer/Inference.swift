import NFImage
import NFPipeline
import NFLayers
import NFRequestFormats
import NFTensors

/// Runs models on the compute pool and records how long each batch took.
struct Inference: Sendable {
    let pool: ComputePool
    let metrics: ServerMetrics
    let maxPixels: Int
    /// Every image classified also feeds its model's live BatchNorm input moments.
    let live: LiveMonitors

    /// Images one request may carry. The body limit bounds the bytes, not the count: tiny
    /// encoded images each become a full-size tensor, and a forward pass's memory grows with
    /// the batch, so without this a 20 MiB body of 70-byte PNGs could ask for 100+ GB.
    static let maxImagesPerRequest = 64

    private func checkBatch(_ n: Int) throws {
        if n > Self.maxImagesPerRequest {
            throw APIError(.contentTooLarge, "\(n) images in one request; send at most \(Self.maxImagesPerRequest) per request")
        }
    }

    /// Decodes, preprocesses and classifies `images` as one batch: `[N, K]` logits.
    func logits(_ model: ModelPipeline, images: [UploadedImage]) async throws -> Tensor {
        try checkBatch(images.count)
        return try await timed(model, images: images.count) { [maxPixels] context in
            try model.logits(encodedImages: images, maxPixels: maxPixels, context: context)
        }
    }

    /// Classifies an already preprocessed `[N, C, H, W]` batch: `[N, K]` logits.
    func logits(_ model: ModelPipeline, input: Tensor) async throws -> Tensor {
        try checkBatch(input.shape[0])
        return try await timed(model, images: input.shape[0]) { try model.logits(input: input, context: $0) }
    }

    /// Runs `work` on the pool with a context carrying the live-ESM recorder (when on), and
    /// records the time and, once the logits are back, the recorder's moments (not for an input
    /// whose logits are not finite: it is refused, and must not skew the live statistics).
    private func timed(_ model: ModelPipeline, images: Int,
                       _ work: @escaping @Sendable (ForwardContext) throws -> Tensor) async throws -> Tensor {
        let recorder = live.recorder(for: model)
        let logits = try await pool.run { [metrics] in
            let start = ContinuousClock.now
            let logits = try work(ForwardContext(observer: recorder))
            metrics.recordInference(model: model.name, images: images, duration: ContinuousClock.now - start)
            return logits
        }
        if let recorder, logits.storage.allSatisfy(\.isFinite) { live.record(recorder, model: model, images: images) }
        return logits
    }
}
