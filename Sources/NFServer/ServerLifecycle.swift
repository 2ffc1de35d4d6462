import Foundation
import Logging
import NFServing
import ServiceLifecycle
import Synchronization

/// What happens on SIGTERM or SIGINT, in order: readiness answers 503 at once; for `delay` the
/// server still accepts and serves (time for a load balancer to see the 503 and stop routing
/// here, as Kubernetes' endpoints need); then the listening socket closes (new connections are
/// refused) and requests in flight have `grace` to finish. Should anything still run after
/// both and a few seconds more, the process exits with status 1 rather than hang.
///
/// It runs last in the service group, so it is told first (services stop in reverse order)
/// and the HTTP server's shutdown starts only when `run` returns.
struct DrainOnShutdown: Service {
    let lifecycle: ServerLifecycle
    let delay: Duration
    let grace: Duration
    let connections: ConnectionCounter
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        lifecycle.beginDraining()
        logger.notice(
            "shutting down: readiness answers 503; \(delay) until new connections are refused, then requests in flight have \(grace) to finish")
        let (logger, limit, connections) = (logger, delay + grace + .seconds(5), connections)
        // The last resort: the service group's own limit (delay + grace) cancels what still runs,
        // and that should end it well before this.
        Task.detached {
            try? await Task.sleep(for: limit)
            logger.error(
                """
                still running \(limit) after the shutdown signal: \(connections.openConnections) connections open, \
                \(connections.unansweredRequests) requests unanswered, \(connections.droppedRequests) dropped; exiting with status 1
                """)
            exit(1)
        }
        try? await Task.sleep(for: delay)
    }
}
