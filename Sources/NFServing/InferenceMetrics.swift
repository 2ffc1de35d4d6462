/// Where the serving layer reports each forward pass it ran; the server records them in its
/// Prometheus registry.
public protocol InferenceMetrics: Sendable {
    /// One pass of `model` over `images` images that took `duration` (decoding excluded).
    func recordInference(model: String, images: Int, duration: Duration)
    /// One request of `model` waited `duration` from its admission (before its images were
    /// decoded) until its forward pass started.
    func recordQueue(model: String, duration: Duration)
}

extension InferenceMetrics {
    public func recordQueue(model: String, duration: Duration) {}
}

/// Where a front other than HTTP (whose middleware records its own) reports each call it
/// answered, and where every front's passes are reported (`InferenceMetrics`).
public protocol RequestMetrics: InferenceMetrics {
    /// One call of `method` on `front` ("grpc") that ended with `outcome` (its status code's name)
    /// after `duration`.
    func recordCall(front: String, method: String, outcome: String, duration: Duration)
}
