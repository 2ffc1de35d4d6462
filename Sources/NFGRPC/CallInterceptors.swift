import GRPCCore
import NFServing

/// Records every call in the server's metrics (`nfserve_grpc_requests_total{method, code}` and
/// `nfserve_grpc_request_duration_seconds`), as HTTP's middleware records requests.
struct MetricsInterceptor: ServerInterceptor {
    let metrics: any RequestMetrics

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let start = ContinuousClock.now
        let method = context.descriptor.method
        do {
            let response = try await next(request, context)
            let code: String
            switch response.accepted {
            case .success: code = "ok"
            case let .failure(error): code = "\(error.code)"
            }
            metrics.recordCall(front: "grpc", method: method, outcome: code, duration: ContinuousClock.now - start)
            return response
        } catch {
            let code = (error as? RPCError).map { "\($0.code)" } ?? "unknown"
            metrics.recordCall(front: "grpc", method: method, outcome: code, duration: ContinuousClock.now - start)
            throw error
        }
    }
}

/// The admin token on the repository RPCs, as HTTP's admin routes check it: metadata
/// `authorization: Bearer TOKEN`. Without a configured token they are refused (PERMISSION_DENIED,
/// saying how to enable them); a missing or wrong token is UNAUTHENTICATED.
struct AdminTokenInterceptor: ServerInterceptor {
    let token: String?

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        try Self.authorize(request.metadata, token: token)
        return try await next(request, context)
    }

    static func authorize(_ metadata: Metadata, token: String?) throws(RPCError) {
        // "Bearer TOKEN"; anything else counts as no token.
        let bearer = metadata[stringValues: "authorization"].first { $0.hasPrefix("Bearer ") }.map { String($0.dropFirst("Bearer ".count)) }
        switch AdminToken(token).refusal(of: bearer) {
        case nil:
            return
        case .disabled:
            throw RPCError(
                code: .permissionDenied,
                message:
                    "admin RPCs are disabled; start nfserve with --admin-token-file PATH or with NFSERVE_ADMIN_TOKEN set, then send metadata authorization: Bearer TOKEN"
            )
        case .missing:
            throw RPCError(code: .unauthenticated, message: "this RPC needs the admin token: send metadata authorization: Bearer TOKEN")
        case .wrong:
            throw RPCError(code: .unauthenticated, message: "wrong admin token")
        }
    }
}
