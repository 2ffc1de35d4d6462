import Hummingbird
import Logging

/// nfserve's version, reported by `GET /v2`.
public let nfserveVersion = "0.1.0"

/// The HTTP service: `nfserve serve` runs it and the tests drive it (Hummingbird's pattern of one
/// builder shared by both). Model loading starts when the application runs, in the background.
public func buildApplication(_ configuration: ServerConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    let store = ModelStore(checkpoints: configuration.checkpoints, logger: logger)
    let pool = ComputePool(maxQueued: configuration.maxQueuedInferences)
    let router = buildRouter(configuration, store: store, pool: pool)
    let maxBodyBytes = configuration.maxBodyBytes
    return Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: maxBodyBytes)])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "nfserve"),
        services: [ModelLoadingService(store: store, pool: pool, logger: logger)],
        logger: logger)
}

/// Builds the application and runs it until SIGINT or SIGTERM (`nfserve serve`).
public func serve(_ configuration: ServerConfiguration, logger: Logger) async throws {
    try await buildApplication(configuration, logger: logger).runService()
}

/// Every route of api.md over `store`, running inference on `pool`.
func buildRouter(_ configuration: ServerConfiguration, store: ModelStore, pool: ComputePool) -> Router<ServerRequestContext> {
    let router = Router(context: ServerRequestContext.self)
    let routes = RouteTable()
    let metrics = ServerMetrics()
    // Outermost first: metrics see the status errors are answered with.
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ErrorMiddleware(routes: routes))
    router.add(middleware: LogRequestsMiddleware(.debug))

    let inference = Inference(pool: pool, metrics: metrics, maxPixels: configuration.maxPixels)
    PredictionRoutes(store: store, inference: inference, maxBodyBytes: configuration.maxBodyBytes)
        .add(to: router, routes: routes)
    ModelRoutes(store: store).add(to: router, routes: routes)
    OpenInferenceRoutes(store: store, inference: inference, maxBodyBytes: configuration.maxBodyBytes)
        .add(to: router, routes: routes)
    DatasetRoutes(datasets: configuration.datasets).add(to: router, routes: routes)
    router.on("/metrics", method: .get, table: routes) { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: metrics.render(store: store))))
    }
    DashboardRoutes(store: store).add(to: router, routes: routes)
    return router
}
