import Hummingbird

/// The bearer token that guards the admin endpoints (`--admin-token-file` or
/// `NFSERVE_ADMIN_TOKEN`); without one configured, they are refused.
struct AdminToken: Sendable {
    let token: String?

    /// Passes when the request carries `Authorization: Bearer <token>`; 401 otherwise.
    func authorize(_ request: Request) throws(APIError) {
        guard let token else {
            throw APIError(.unauthorized, "admin endpoints are disabled; start nfserve with --admin-token-file PATH or NFSERVE_ADMIN_TOKEN set")
        }
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer"]
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "this endpoint needs the admin token: send Authorization: Bearer TOKEN", headers: challenge)
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix,
              Self.constantTimeEqual(Array(header.utf8.dropFirst(prefix.count)), Array(token.utf8)) else {
            throw APIError(.unauthorized, "wrong admin token", headers: challenge)
        }
    }

    /// Compares without stopping at the first difference, so timing does not reveal the prefix.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
