import Hummingbird
import HummingbirdAuth

/// The one authorization check of every admin route: the bearer token of `--admin-token-file`
/// or `NFSERVE_ADMIN_TOKEN`, read from `Authorization: Bearer TOKEN` by HummingbirdAuth.
/// Without a configured token the admin routes are refused with a message that says how to
/// enable them; a missing or wrong token is a 401 with `WWW-Authenticate: Bearer`.
struct AdminAuthorization: Sendable {
    let token: String?

    func authorize(_ request: Request) throws(APIError) {
        guard let token else {
            throw APIError(
                .forbidden,
                "admin endpoints are disabled; start nfserve with --admin-token-file PATH or with NFSERVE_ADMIN_TOKEN set, then send Authorization: Bearer TOKEN"
            )
        }
        let challenge: HTTPFields = [.wwwAuthenticate: #"Bearer realm="nfserve admin""#]
        guard let bearer = request.headers.bearer else {
            throw APIError(.unauthorized, "this endpoint needs the admin token: send Authorization: Bearer TOKEN", headers: challenge)
        }
        guard Self.constantTimeEqual(Array(bearer.token.utf8), Array(token.utf8)) else {
            throw APIError(.unauthorized, "wrong admin token", headers: challenge)
        }
    }

    /// Compares without stopping at the first difference, so timing does not reveal the prefix.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
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
