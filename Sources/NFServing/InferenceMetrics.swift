/// Where the serving layer reports each forward pass it ran; the server records them in its
/// Prometheus registry.
public protocol InferenceMetrics: Sendable {
    /// One pass of `model` over `images` images that took `duration` (decoding excluded).
    func recordInference(model: String, images: Int, duration: Duration)
}
