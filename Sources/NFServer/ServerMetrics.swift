import Hummingbird
import Metrics
import NFDiagnostics
import NFServing
import NFTensors
import Prometheus

/// The application's metrics, recorded through swift-metrics into its own Prometheus registry
/// (one per application, so tests can build many without a global bootstrap) and served by
/// `GET /metrics` in Prometheus' text format.
struct ServerMetrics: RequestMetrics {
    let registry = PrometheusCollectorRegistry()
    private var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// `nfserve_http_requests_total` and `nfserve_http_request_duration_seconds`, by route
    /// pattern (`/predictions/{model}`, so model names do not multiply the series), method and status.
    func recordRequest(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let dimensions = [("route", route), ("method", method.rawValue), ("status", String(status.code))]
        Counter(label: "nfserve_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "nfserve_http_request_duration_seconds", dimensions: dimensions, factory: factory).record(duration: duration)
    }

    /// `nfserve_grpc_requests_total` and `nfserve_grpc_request_duration_seconds` (for `front`
    /// "grpc"), by method and status code name (`ok`, `invalidArgument`, ...).
    func recordCall(front: String, method: String, outcome: String, duration: Duration) {
        let dimensions = [("method", method), ("code", outcome)]
        Counter(label: "nfserve_\(front)_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "nfserve_\(front)_request_duration_seconds", dimensions: dimensions, factory: factory).record(duration: duration)
    }

    /// `nfserve_inference_duration_seconds` (one batch's forward pass: not decoding, not the wait
    /// for the pool, not other models' passes run between its steps) and
    /// `nfserve_inference_images_total`, by model.
    func recordInference(model: String, images: Int, duration: Duration) {
        let dimensions = [("model", model)]
        Timer(label: "nfserve_inference_duration_seconds", dimensions: dimensions, factory: factory).record(duration: duration)
        Counter(label: "nfserve_inference_images_total", dimensions: dimensions, factory: factory).increment(by: images)
    }

    /// `nfserve_queue_duration_seconds`, by model: from a request's admission (before its images
    /// are decoded) until its forward pass starts.
    func recordQueue(model: String, duration: Duration) {
        Timer(label: "nfserve_queue_duration_seconds", dimensions: [("model", model)], factory: factory).record(duration: duration)
    }

    /// `nfserve_http_requests_dropped_total`: requests read to their end whose connection the
    /// server closed before writing their response (a shutdown whose grace ran out).
    func recordDroppedRequests(_ n: Int) {
        Counter(label: "nfserve_http_requests_dropped_total", factory: factory).increment(by: n)
    }

    /// The registry as Prometheus text, with `nfserve_models{status}` set from `store`, the
    /// connection gauges from `connections` and the live estimation shift from `live` first.
    /// `memory`: the budgets, with the inference pool whose queued inputs count against one;
    /// `nfserve_memory_limit_bytes`, `nfserve_memory_budget_bytes{budget}`,
    /// `nfserve_memory_held_bytes{budget}` and `nfserve_memory_resident_bytes`.
    func render(
        store: ModelStore, live: LiveMonitors, connections: ConnectionCounter? = nil,
        memory: (budgets: MemoryBudgets, pool: ComputePool)? = nil, batchers: DynamicBatchers? = nil,
        estimationShiftExport: EstimationShiftExport = .off
    ) -> String {
        if let batchers {
            // Every served model has one, 0 until its first request (a scaler reads absent as unknown).
            let depths = batchers.queueDepths
            for entry in store.entries where entry.model != nil {
                Gauge(label: "nfserve_queue_depth", dimensions: [("model", entry.name)], factory: factory).record(depths[entry.name] ?? 0)
            }
        }
        if let (budgets, pool) = memory {
            Gauge(label: "nfserve_memory_limit_bytes", factory: factory).record(budgets.limit.bytes)
            if let resident = MemoryReturn.residentBytes() {
                Gauge(label: "nfserve_memory_resident_bytes", factory: factory).record(resident)
            }
            for (budget, size, held) in [
                ("queued_inputs", budgets.queuedInputBytes, pool.heldBytes),
                ("plan_buffer_cache", budgets.bufferPoolBytes, BufferPool.shared.cachedBytes),
            ] {
                Gauge(label: "nfserve_memory_budget_bytes", dimensions: [("budget", budget)], factory: factory).record(size)
                Gauge(label: "nfserve_memory_held_bytes", dimensions: [("budget", budget)], factory: factory).record(held)
            }
            Gauge(label: "nfserve_memory_budget_bytes", dimensions: [("budget", "recalibration")], factory: factory).record(
                budgets.recalibrationBytes)
        }
        if let connections {
            recordDroppedRequests(0)
            Gauge(label: "nfserve_http_connections_open", factory: factory).record(connections.openConnections)
        }
        var counts = ["ready": 0, "loading": 0, "failed": 0]
        for entry in store.entries { counts[entry.status.name, default: 0] += 1 }
        for (status, count) in counts {
            Gauge(label: "nfserve_models", dimensions: [("status", status)], factory: factory).record(count)
        }
        recordLiveEstimationShift(store: store, live: live)
        return registry.emitToString() + EstimationShiftMetrics.text(estimationShiftExport, store: store, live: live)
    }

    /// Per served model, over everything it classified since its statistics last changed (or
    /// the last reset): `nfserve_live_esm_images{model}` and, per layer group (the stem, each
    /// stage: `layer1` ...), the mean and the max of its BatchNorms' ESM,
    /// `nfserve_live_esm{model, group, statistic="esm_mean"|"esm_var", aggregate="mean"|"max"}`.
    private func recordLiveEstimationShift(store: ModelStore, live: LiveMonitors) {
        for monitor in live.all {
            guard let model = store.entry(named: monitor.name)?.model, model.version === monitor.version else { continue }
            let all = monitor.live.all
            Gauge(label: "nfserve_live_esm_images", dimensions: [("model", monitor.name)], factory: factory).record(all.images)
            guard all.images > 0 else { continue }
            var groups: [String: [EstimationShiftLayer]] = [:]
            for layer in EstimationShift.layers(model.classifier, measured: all.moments) where layer.esmMean != nil {
                groups[Self.group(of: layer.name), default: []].append(layer)
            }
            for (group, layers) in groups {
                for (statistic, values) in [("esm_mean", layers.compactMap(\.esmMean)), ("esm_var", layers.compactMap(\.esmVar))] {
                    for (aggregate, value) in [("mean", values.reduce(0, +) / Double(values.count)), ("max", values.max() ?? 0)] {
                        Gauge(
                            label: "nfserve_live_esm",
                            dimensions: [
                                ("model", monitor.name), ("group", group), ("statistic", statistic),
                                ("aggregate", aggregate),
                            ], factory: factory
                        ).record(value)
                    }
                }
            }
        }
    }

    /// A layer's group: its first key component when that names a stage ("layer2.1.bn1" ->
    /// "layer2", "stages.1.0..." -> "stages.1"), else the stem.
    static func group(of name: String) -> String {
        let parts = name.split(separator: ".")
        if let first = parts.first, first.hasPrefix("layer"), parts.count > 1 { return String(first) }
        if parts.first == "stages", parts.count > 1 { return "stages.\(parts[1])" }
        return "stem"
    }
}
