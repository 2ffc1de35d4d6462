import Foundation
import Hummingbird
import NFImage
import NFDatasets
import NFDiagnostics
import NFModels
import NFPipeline
import NFRequestFormats
import NFTensors

/// An error answered with a status and api.md's body, `{"error": "what went wrong and what to do"}`.
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
    static func unknownModel(_ name: String, known: [String]) -> APIError {
        let list = known.isEmpty ? "none are loaded (check --checkpoints)" : "known models: \(known.joined(separator: ", "))"
        return APIError(.notFound, "unknown model \"\(name)\"; \(list)")
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }

    static let overloaded = APIError(
        .serviceUnavailable, "server overloaded: too many inference requests are waiting; retry later",
        headers: [.retryAfter: "1"])

    /// The one place where errors of the modules below become statuses: every error thrown while
    /// handling a request passes through here on its way out (see `ErrorMiddleware`).
    init(mapping error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as ImageError:
            self.init(HTTPResponse.Status(code: error.httpStatus), error.description)
        case let error as EncodedImageError:
            self.init(HTTPResponse.Status(code: error.error.httpStatus), error.description)
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
        case let error as any HTTPResponseError:
            self.init(error.status, (error as? HTTPError)?.body ?? error.status.reasonPhrase)
        default:
            self.init(.internalServerError, "internal error: \(error)")
        }
    }

    /// A long request whose client closed the connection (nginx's 499): stopped, never sent.
    static let clientClosed = APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"),
                                       "the client closed the connection; the request was stopped")

    static let diagnosticsBusy = APIError(
        .serviceUnavailable, "server busy: too many diagnostics are running or waiting; retry later",
        headers: [.retryAfter: "5"])

    static func bodyTooLarge(limit: Int, hint: String = "send a smaller image or raise --max-body-mb") -> APIError {
        let size = limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"
        // The rest of the body is not read: the connection closes after this answer
        // (`ConnectionGuard`), so a client still uploading learns at once.
        return APIError(.contentTooLarge, "request body is larger than the server's limit of \(size); \(hint)",
                        headers: [.connection: "close"])
    }
}
