/// Why the serving layer refused a request or could not finish it.
///
/// Each front decides what a kind means on its wire: `NFServer` maps them to HTTP statuses in
/// one place (`APIError(mapping:)`). The message says what went wrong and what to do.
public struct ServingError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// No model of that name is in the repository.
        case unknownModel
        /// No model folder of that name exists.
        case noSuchFolder
        /// The model exists but does not serve now: loading, failed or unloaded.
        case modelUnavailable
        /// A model folder could not be loaded (a reload; a loaded version may keep serving).
        case loadFailed
        /// Too much is queued or running; the same request may succeed after `retryAfterSeconds`.
        case busy(retryAfterSeconds: Int)
        /// The request is larger than the server will ever take (images, memory).
        case tooLarge
        /// The request's arguments are not valid for this model or server.
        case invalidArgument
        /// The model changed under a request that meant to change it.
        case conflict

        /// How long a client should wait before trying again, for `busy`.
        public var retryAfterSeconds: Int? {
            if case let .busy(seconds) = self { return seconds }
            return nil
        }
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// A model name the repository does not hold, with the names it does.
    public static func unknownModel(_ name: String, known: [String]) -> ServingError {
        let list = known.isEmpty ? "none are loaded (check --checkpoints)" : "known models: \(known.joined(separator: ", "))"
        return ServingError(.unknownModel, "unknown model \"\(name)\"; \(list)")
    }

    /// The inference queue is full.
    public static let overloaded = ServingError(
        .busy(retryAfterSeconds: 1), "server overloaded: too many inference requests are waiting; retry later")

    /// The diagnostics queue is full.
    public static let diagnosticsBusy = ServingError(
        .busy(retryAfterSeconds: 5), "server busy: too many diagnostics are running or waiting; retry later")
}
