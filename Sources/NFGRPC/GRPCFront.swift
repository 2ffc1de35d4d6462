import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NFOpenInference
import NFServing
import ServiceLifecycle

/// What the gRPC listener is asked to do (`nfserve serve --grpc-port`; docs/api.md, "gRPC").
public struct GRPCConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (tests read it from `GRPCFront.listeningPort`).
    public var port: Int
    /// Largest request message, in bytes: the HTTP body limit (`--max-body-mb`). A larger one is
    /// refused with RESOURCE_EXHAUSTED and a message; one over twice the limit is cut off by the
    /// transport while it arrives (the stream is reset), so no more than that is ever buffered.
    public var maxMessageBytes: Int
    /// Calls one connection may have open at once (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`).
    public var maxConcurrentStreams: Int
    /// A connection with no call for this long is closed (GOAWAY), as HTTP's keep-alive timeout.
    public var maxIdleTime: Duration
    public var adminToken: String?

    public init(
        host: String = "127.0.0.1", port: Int = 8081, maxMessageBytes: Int = 20 << 20, maxConcurrentStreams: Int = 100,
        maxIdleTime: Duration = .seconds(75), adminToken: String? = nil
    ) {
        self.host = host
        self.port = port
        self.maxMessageBytes = maxMessageBytes
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxIdleTime = maxIdleTime
        self.adminToken = adminToken
    }
}

/// The gRPC front: KServe's v2 `GRPCInferenceService` on its own port, as a service of the
/// server's service group. On shutdown (after `--shutdown-delay`, while readiness already says not
/// ready) it sends GOAWAY: calls in flight finish, new ones are refused with UNAVAILABLE, and
/// clients reconnect elsewhere.
public struct GRPCFront: Service {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let transport: HTTP2ServerTransport.Posix
    private let logger: Logger

    public init(
        _ configuration: GRPCConfiguration, store: ModelStore, loader: ModelLoader, openInference: OpenInference,
        lifecycle: ServerLifecycle, metrics: any RequestMetrics, logger: Logger
    ) {
        transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.port), transportSecurity: .plaintext,
            config: .defaults { config in
                let (doubled, overflow) = configuration.maxMessageBytes.multipliedReportingOverflow(by: 2)
                config.rpc.maxRequestPayloadSize = overflow ? .max : doubled
                config.http2.maxConcurrentStreams = configuration.maxConcurrentStreams
                config.connection.maxIdleTime = configuration.maxIdleTime
            })
        let service = InferenceService(
            store: store, loader: loader, openInference: openInference, lifecycle: lifecycle,
            maxMessageBytes: configuration.maxMessageBytes, logger: logger)
        let repository = Inference_GRPCInferenceService.Method.self
        server = GRPCServer(
            transport: transport, services: [service],
            interceptorPipeline: [
                .apply(MetricsInterceptor(metrics: metrics), to: .all),
                .apply(
                    AdminTokenInterceptor(token: configuration.adminToken),
                    to: .methods([
                        repository.RepositoryIndex.descriptor, repository.RepositoryModelLoad.descriptor,
                        repository.RepositoryModelUnload.descriptor,
                    ])),
            ])
        self.logger = logger
    }

    /// The port it listens on, once it does.
    public var listeningPort: Int {
        get async throws {
            let address = try await transport.listeningAddress
            guard let port = address.ipv4?.port ?? address.ipv6?.port else {
                throw RPCError(code: .internalError, message: "the gRPC listener has no IP port: \(address)")
            }
            return port
        }
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                group.addTask {
                    if let port = try? await listeningPort { logger.notice("gRPC (KServe v2 GRPCInferenceService) listening on port \(port)") }
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
