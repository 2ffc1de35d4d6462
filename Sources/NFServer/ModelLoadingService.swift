import Logging
import NFServing
import ServiceLifecycle

/// Loads every model of the store once the application runs, so that `/v2/health/live`
/// answers while the checkpoints load; then stays until the application shuts down (a service
/// that returns would stop the application's service group).
struct ModelLoadingService: Service {
    let store: ModelStore
    let loader: ModelLoader
    let logger: Logger

    func run() async throws {
        await store.loadAll(logger: logger, load: loader.load)
        logger.info("model loading finished: \(store.entries.filter { $0.model != nil }.count) of \(store.entries.count) ready")
        try? await gracefulShutdown()
    }
}
