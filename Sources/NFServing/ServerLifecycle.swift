import Synchronization

/// Whether the server is shutting down: from the first SIGTERM or SIGINT on, readiness (HTTP's
/// `/v2/health/ready`, gRPC's `ServerReady`) answers not ready so that a load balancer stops
/// sending traffic, while requests in flight finish. Every front reads the same one.
public final class ServerLifecycle: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    public func beginDraining() { draining.store(true, ordering: .relaxed) }
}
