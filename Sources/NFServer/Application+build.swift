import Hummingbird
import Logging
import NFDiagnostics
import NFOpenInference
import NFServing
import NFTensors
import ServiceLifecycle

/// The HTTP service: `nfserve serve` runs it and the tests drive it (Hummingbird's pattern of one
/// builder shared by both). Model loading starts when the application runs, in the background.
public func buildApplication(_ configuration: ServerConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    try await buildApplication(configuration, logger: logger, lifecycle: ServerLifecycle())
}

/// `pool`: tests hold the compute pool to queue requests behind it. `connections` counts the
/// server's connections (`serve` reads it at exit).
func buildApplication(
    _ configuration: ServerConfiguration, logger: Logger, lifecycle: ServerLifecycle,
    pool: ComputePool? = nil, connections: ConnectionCounter? = nil
) async throws -> some ApplicationProtocol {
    try await buildServer(configuration, logger: logger, lifecycle: lifecycle, pool: pool, connections: connections).application
}

/// What every front serves from, built once per server and shared: the HTTP routes and any other
/// front `serve` is given (gRPC) answer from the same models, admission, batching, live
/// estimation shift, metrics and draining state.
public struct ServingComponents: Sendable {
    public let store: ModelStore
    public let loader: ModelLoader
    public let openInference: OpenInference
    public let lifecycle: ServerLifecycle
    public let metrics: any RequestMetrics
    public let logger: Logger
}

func buildServer(
    _ configuration: ServerConfiguration, logger: Logger, lifecycle: ServerLifecycle,
    pool: ComputePool? = nil, connections: ConnectionCounter? = nil
) async throws -> (application: some ApplicationProtocol, components: ServingComponents) {
    let configuration = configuration.resolvingMemoryLimit()
    let store = ModelStore(source: configuration.models, logger: logger)
    let budgets = configuration.memoryBudgets
    BufferPool.shared.maxBytes = budgets.bufferPoolBytes
    let pool = pool ?? ComputePool(maxQueued: configuration.maxQueuedInferences, maxQueuedBytes: budgets.queuedInputBytes)
    let loader = ModelLoader(precisions: configuration.precisions)
    let metrics = ServerMetrics()
    let counter = connections ?? ConnectionCounter()
    counter.onDrop { metrics.recordDroppedRequests($0) }
    let inference = Inference(
        pool: pool, metrics: metrics, maxPixels: configuration.maxPixels,
        live: LiveMonitors(enabled: configuration.liveEstimationShift, budget: configuration.liveEstimationShiftBudget),
        batching: configuration.batching)
    let router = buildRouter(
        configuration, store: store, pool: pool, loader: loader, lifecycle: lifecycle, logger: logger,
        metrics: metrics, connections: counter, inference: inference)
    let (maxBodyBytes, limits) = (configuration.maxBodyBytes, configuration.connectionLimits)
    // `ConnectionGuard` answers connections over the limit with a 503; beyond twice the limit
    // the server stops accepting until some close (they wait in the kernel's backlog), so
    // file descriptors stay bounded whatever clients do.
    let hardLimit = limits.maxConnections.multipliedReportingOverflow(by: 2)
    let application = Application(
        router: router,
        server: .http1(
            configuration: .init(additionalChannelHandlers: [
                ConnectionGuard(limits: limits, counter: counter),
                ExpectContinueHandler(maxBodyBytes: maxBodyBytes),
            ])),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "nfserve",
            availableConnectionsDelegate: .maximum(hardLimit.overflow ? .max : hardLimit.partialValue, logger: logger)),
        services: [ModelLoadingService(store: store, loader: loader, logger: logger)],
        onServerRunning: { listener in
            do {
                try await listener.installAcceptGate { counter.stopAccepting() }
            } catch {
                logger.error("cannot gate the listener's close (connections accepted as it closes may be dropped): \(error)")
            }
        },
        logger: logger)
    let components = ServingComponents(
        store: store, loader: loader, openInference: OpenInference(inference: inference), lifecycle: lifecycle,
        metrics: metrics, logger: logger)
    return (application, components)
}

/// Builds the application and runs it until SIGINT or SIGTERM (`nfserve serve`), then shuts
/// down as `DrainOnShutdown` describes: readiness 503 at once, `shutdownDelay` still serving,
/// then no new connections and `shutdownGrace` for the requests in flight.
///
/// `fronts`: other fronts over the same components (the executable adds the gRPC listener). They
/// run beside the HTTP application and are told to shut down after `shutdownDelay`, before it.
public func serve(
    _ configuration: ServerConfiguration, logger: Logger,
    fronts: (ServingComponents) throws -> [any Service] = { _ in [] }
) async throws {
    let configuration = configuration.resolvingMemoryLimit()
    let lifecycle = ServerLifecycle()
    let connections = ConnectionCounter()
    logger.info("\(configuration.memoryBudgets.description)")
    let (app, components) = try await buildServer(configuration, logger: logger, lifecycle: lifecycle, connections: connections)
    var group = ServiceGroupConfiguration(
        services: [.init(service: app)] + (try fronts(components)).map { .init(service: $0) } + [
            .init(
                service: DrainOnShutdown(
                    lifecycle: lifecycle, delay: configuration.shutdownDelay,
                    grace: configuration.shutdownGrace, connections: connections, logger: logger))
        ],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger)
    group.maximumGracefulShutdownDuration = configuration.shutdownDelay + configuration.shutdownGrace
    try await ServiceGroup(configuration: group).run()
    let dropped = connections.droppedRequests
    logger.log(level: dropped == 0 ? .notice : .error, "stopped; requests dropped: \(dropped)")
}

/// Every route of docs/api.md over `store`, running inference on `pool`.
func buildRouter(
    _ configuration: ServerConfiguration, store: ModelStore, pool: ComputePool, loader: ModelLoader = ModelLoader(),
    lifecycle: ServerLifecycle = ServerLifecycle(), logger: Logger = Logger(label: "nfserve"),
    metrics: ServerMetrics = ServerMetrics(), connections: ConnectionCounter? = nil,
    routes: RouteTable = RouteTable(), inference: Inference? = nil
) -> Router<ServerRequestContext> {
    let router = Router(context: ServerRequestContext.self)
    // Outermost first: metrics see the status errors are answered with.
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ErrorMiddleware(routes: routes))
    router.add(middleware: LogRequestsMiddleware(.debug))
    if let directory = configuration.publicDirectory {
        router.add(middleware: PublicFiles(directory: directory))
    }

    let inference =
        inference
        ?? Inference(
            pool: pool, metrics: metrics, maxPixels: configuration.maxPixels,
            live: LiveMonitors(enabled: configuration.liveEstimationShift, budget: configuration.liveEstimationShiftBudget),
            batching: configuration.batching)
    let live = inference.live
    PredictionRoutes(store: store, inference: inference, maxBodyBytes: configuration.maxBodyBytes)
        .add(to: router, routes: routes)
    ModelRoutes(store: store, batchers: inference.batchers).add(to: router, routes: routes)
    OpenInferenceRoutes(
        store: store, openInference: OpenInference(inference: inference), lifecycle: lifecycle, maxBodyBytes: configuration.maxBodyBytes
    )
    .add(to: router, routes: routes)
    RepositoryRoutes(store: store, loader: loader, authorization: AdminAuthorization(token: configuration.adminToken), logger: logger)
        .add(to: router, routes: routes)
    DatasetRoutes(datasets: configuration.datasets).add(to: router, routes: routes)
    // Diagnostics queue apart from inference (a long measurement must not delay predictions);
    // one measurement runs at a time and two more may wait.
    let budgets = configuration.memoryBudgets
    let diagnostics = ComputePool(maxQueued: 2, overloaded: .diagnosticsBusy, returnsMemory: true)
    let memory = MemoryAdmission(budgets: budgets)
    DiagnosticsRoutes(store: store, pool: diagnostics, datasets: configuration.datasets, memory: memory)
        .add(to: router, routes: routes)
    let estimationShift = EstimationShiftService(
        store: store, pool: diagnostics, datasets: configuration.datasets, live: live,
        maxPixels: configuration.maxPixels,
        maxRecalibrationBytes: budgets.recalibrationBytes, memory: memory)
    EstimationShiftRoutes(service: estimationShift, authorization: AdminAuthorization(token: configuration.adminToken))
        .add(to: router, routes: routes)
    OpenAPIRoute.add(to: router, routes: routes)
    router.on("/metrics", method: .get, table: routes) { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(
                byteBuffer: ByteBuffer(
                    string: metrics.render(
                        store: store, live: live, connections: connections, memory: (budgets, pool), batchers: inference.batchers,
                        estimationShiftExport: configuration.estimationShiftExport))))
    }
    return router
}
