import Foundation
import Hummingbird
import NFDatasets
import NFDiagnostics
import NFImage
import NFModels
import NFPipeline
import NFRequestFormats
import NFServing
import NFTensors

/// An error answered with a status and the JSON body `{"error": "what went wrong and what to do"}`
/// (docs/api.md, "Errors").
public struct APIError: HTTPResponseError, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        let body = try JSONEncoder.api.encode(["error": message])
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension APIError {
    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }

    /// The one place where errors of the modules below become statuses: every error thrown while
    /// handling a request passes through here on its way out (see `ErrorMiddleware`).
    init(mapping error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as ServingError:
            self.init(
                Self.status(of: error.kind), error.message,
                headers: error.kind.retryAfterSeconds.map { [.retryAfter: String($0)] } ?? [:])
        case let error as ImageError:
            self.init(Self.status(of: error), error.description)
        case let error as EncodedImageError:
            self.init(Self.status(of: error.error), error.description)
        case let error as RequestError:
            self.init(HTTPResponse.Status(code: error.status), error.message)
        case let error as DecodingError:
            self.init(.badRequest, RequestError(invalidJSON: error).message)
        case let error as DiagnosticsRequestError:
            self.init(.badRequest, error.description)
        case let error as DatasetError:
            self.init(.badRequest, error.description)
        case let error as TensorError:
            self.init(.badRequest, error.description)
        case is ModelBuildError, is CheckpointLoadError:
            // A model that cannot be built does not serve, as when its folder failed at start.
            self.init(.serviceUnavailable, "\(error)")
        case is CancellationError:
            // A handler's task is cancelled when the server stops with the request unfinished.
            self.init(.serviceUnavailable, "the server is shutting down; the request was stopped")
        case let error as any HTTPResponseError:
            self.init(error.status, (error as? HTTPError)?.body ?? error.status.reasonPhrase)
        default:
            self.init(.internalServerError, "internal error: \(error)")
        }
    }

    /// The status of a refusal of the serving layer.
    static func status(of kind: ServingError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .unknownModel, .noSuchFolder: .notFound
        case .modelUnavailable, .busy: .serviceUnavailable
        case .loadFailed: .unprocessableContent
        case .tooLarge: .contentTooLarge
        case .invalidArgument: .badRequest
        case .conflict: .conflict
        }
    }

    /// The status of an image that could not become pixels: 400 for bytes that are not a readable
    /// image, 415 for a format (or JPEG/PNG variant) nfserve does not decode, 422 for a valid
    /// image over the pixel limit.
    static func status(of error: ImageError) -> HTTPResponse.Status {
        switch error {
        case .empty, .corrupt: .badRequest
        case .unsupportedFormat: .unsupportedMediaType
        case .tooManyPixels: .unprocessableContent
        }
    }

    /// A long request whose client closed the connection (nginx's 499): stopped, never sent.
    static let clientClosed = APIError(
        HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"),
        "the client closed the connection; the request was stopped")

    static func bodyTooLarge(limit: Int, hint: String = "send a smaller image or raise --max-body-mb") -> APIError {
        let size = limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"
        // The rest of the body is not read: the connection closes after this answer
        // (`ConnectionGuard`), so a client still uploading learns at once.
        return APIError(
            .contentTooLarge, "request body is larger than the server's limit of \(size); \(hint)",
            headers: [.connection: "close"])
    }
}
