import Logging
import ServiceLifecycle
import Synchronization

/// Whether the server is shutting down: from the first SIGTERM or SIGINT on, readiness
/// (`/v2/health/ready`) answers 503 so that a load balancer stops sending traffic, while
/// requests in flight finish.
final class ServerLifecycle: Sendable {
    private let draining = Atomic<Bool>(false)

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    func beginDraining() { draining.store(true, ordering: .relaxed) }
}

/// Marks the lifecycle as draining the moment graceful shutdown begins. It runs last in the
/// service group, so it is told first (services stop in reverse order), before the HTTP server
/// stops accepting and waits for its connections.
struct DrainOnShutdown: Service {
    let lifecycle: ServerLifecycle
    let grace: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        lifecycle.beginDraining()
        logger.notice("shutting down: readiness answers 503, no new connections; requests in flight have \(grace) to finish")
    }
}
