import GRPCCore
import NFImage
import NFPipeline
import NFRequestFormats
import NFServing

extension RPCError {
    /// The one place where errors of the modules below become gRPC status codes, as
    /// `APIError(mapping:)` is for HTTP statuses: what the client got wrong is INVALID_ARGUMENT,
    /// a model that does not exist NOT_FOUND, one that does not serve now (or a server that is
    /// shutting down) UNAVAILABLE, a full queue or a request over a limit RESOURCE_EXHAUSTED.
    init(mapping error: any Error) {
        switch error {
        case let error as RPCError:
            self = error
        case let error as ServingError:
            self.init(code: Self.code(of: error.kind), message: error.message)
        case let error as RequestError:
            self.init(code: error.status == 413 ? .resourceExhausted : .invalidArgument, message: error.message)
        case let error as ImageError:
            self.init(code: Self.code(of: error), message: error.description)
        case let error as EncodedImageError:
            self.init(code: Self.code(of: error.error), message: error.description)
        case is CancellationError:
            self.init(code: .cancelled, message: "the call was cancelled; the request was stopped")
        default:
            self.init(code: .internalError, message: "internal error: \(error)")
        }
    }

    static func code(of kind: ServingError.Kind) -> Code {
        switch kind {
        case .unknownModel, .noSuchFolder: .notFound
        case .modelUnavailable: .unavailable
        case .busy, .tooLarge: .resourceExhausted
        case .loadFailed: .failedPrecondition
        case .invalidArgument: .invalidArgument
        case .conflict: .aborted
        }
    }

    /// Bytes that are not a readable image, or a format nfserve does not decode, are the
    /// client's; a valid image over the pixel limit is a limit.
    static func code(of error: ImageError) -> Code {
        switch error {
        case .empty, .corrupt, .unsupportedFormat: .invalidArgument
        case .tooManyPixels: .resourceExhausted
        }
    }
}
