import Hummingbird
import Metrics
import Prometheus

/// The application's metrics, recorded through swift-metrics into its own Prometheus registry
/// (one per application, so tests can build many without a global bootstrap) and served by
/// `GET /metrics` in Prometheus' text format.
struct ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// `nfserve_http_requests_total` and `nfserve_http_request_duration_seconds`, by route
    /// pattern (`/predictions/{model}`, so model names do not multiply the series), method and status.
    func recordRequest(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let dimensions = [("route", route), ("method", method.rawValue), ("status", String(status.code))]
        Counter(label: "nfserve_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "nfserve_http_request_duration_seconds", dimensions: dimensions, factory: factory).record(duration: duration)
    }

    /// `nfserve_inference_duration_seconds` (decoding, preprocessing and the forward pass, not the
    /// wait for the pool) and `nfserve_inference_images_total`, by model.
    func recordInference(model: String, images: Int, duration: Duration) {
        let dimensions = [("model", model)]
        Timer(label: "nfserve_inference_duration_seconds", dimensions: dimensions, factory: factory).record(duration: duration)
        Counter(label: "nfserve_inference_images_total", dimensions: dimensions, factory: factory).increment(by: images)
    }

    /// The registry as Prometheus text, with `nfserve_models{status}` set from `store` first.
    func render(store: ModelStore) -> String {
        var counts = ["ready": 0, "loading": 0, "failed": 0]
        for entry in store.entries { counts[entry.status.name, default: 0] += 1 }
        for (status, count) in counts {
            Gauge(label: "nfserve_models", dimensions: [("status", status)], factory: factory).record(count)
        }
        return registry.emitToString()
    }
}

/// Records every request's route, status and latency (outermost, so errors are counted with
/// the status they are answered with).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.recordRequest(route: context.endpointPath ?? "NotFound", method: request.method,
                              status: response.status, duration: ContinuousClock.now - start)
        return response
    }
}
