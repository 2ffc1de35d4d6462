import Hummingbird
import HummingbirdAuth
import NFServing

/// The one authorization check of every admin route: the bearer token of `--admin-token-file`
/// or `NFSERVE_ADMIN_TOKEN`, read from `Authorization: Bearer TOKEN` by HummingbirdAuth.
/// Without a configured token the admin routes are refused with a message that says how to
/// enable them; a missing or wrong token is a 401 with `WWW-Authenticate: Bearer`.
struct AdminAuthorization: Sendable {
    let token: String?

    func authorize(_ request: Request) throws(APIError) {
        let challenge: HTTPFields = [.wwwAuthenticate: #"Bearer realm="nfserve admin""#]
        switch AdminToken(token).refusal(of: request.headers.bearer?.token) {
        case nil:
            return
        case .disabled:
            throw APIError(
                .forbidden,
                "admin endpoints are disabled; start nfserve with --admin-token-file PATH or with NFSERVE_ADMIN_TOKEN set, then send Authorization: Bearer TOKEN"
            )
        case .missing:
            throw APIError(.unauthorized, "this endpoint needs the admin token: send Authorization: Bearer TOKEN", headers: challenge)
        case .wrong:
            throw APIError(.unauthorized, "wrong admin token", headers: challenge)
        }
    }
}

extension Router {
    /// Adds an admin route: `authorization` runs before `handler`, for every admin route alike.
    @discardableResult
    func onAdmin<Output: ResponseGenerator>(
        _ path: String, method: HTTPRequest.Method, table: RouteTable, authorization: AdminAuthorization,
        use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self {
        on(path, method: method, table: table) { request, context in
            try authorization.authorize(request)
            return try await handler(request, context)
        }
    }
}
