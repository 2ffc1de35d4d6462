import NFTensors

/// Runs models on the compute pool and records how long each batch took.
struct Inference: Sendable {
    let pool: ComputePool
    let metrics: ServerMetrics
    let maxPixels: Int

    /// Decodes, preprocesses and classifies `images` as one batch: `[N, K]` logits.
    func logits(_ model: ServedModel, images: [UploadedImage]) async throws -> Tensor {
        try await timed(model, images: images.count) { [maxPixels] in
            try model.logits(encodedImages: images, maxPixels: maxPixels)
        }
    }

    /// Classifies an already preprocessed `[N, C, H, W]` batch: `[N, K]` logits.
    func logits(_ model: ServedModel, input: Tensor) async throws -> Tensor {
        try await timed(model, images: input.shape[0]) { try model.logits(input: input) }
    }

    private func timed(_ model: ServedModel, images: Int, _ work: @escaping @Sendable () throws -> Tensor) async throws -> Tensor {
        try await pool.run { [metrics] in
            let start = ContinuousClock.now
            let logits = try work()
            metrics.recordInference(model: model.name, images: images, duration: ContinuousClock.now - start)
            return logits
        }
    }
}
