/// The admin token of `--admin-token-file` or `NFSERVE_ADMIN_TOKEN`, and the one check of a
/// presented bearer token against it; each front says the refusal on its own wire.
public struct AdminToken: Sendable {
    public let token: String?

    public init(_ token: String?) {
        self.token = token
    }

    public enum Refusal: Sendable, Equatable {
        /// No token is configured: admin calls are disabled.
        case disabled
        /// The call carries no bearer token.
        case missing
        case wrong
    }

    /// Why `bearer` (the token the call presented, nil for none) is refused, or nil when it is the token.
    public func refusal(of bearer: String?) -> Refusal? {
        guard let token else { return .disabled }
        guard let bearer else { return .missing }
        return Self.constantTimeEqual(Array(bearer.utf8), Array(token.utf8)) ? nil : .wrong
    }

    /// Compares without stopping at the first difference, so timing does not reveal the prefix.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
