import Hummingbird
import NFImage
import NFPipeline
import NFRequestFormats
import NFServing

extension Request {
    /// The whole body, refused with 413 beyond `limit` bytes: at once when Content-Length says
    /// so, otherwise as soon as the bytes read pass the limit, so at most `limit` are buffered.
    func collectBody(limit: Int, hint: String? = nil) async throws -> ByteBuffer {
        try checkDeclaredLength(limit: limit, hint: hint)
        do {
            return try await body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // NIO's NIOTooManyBytesError, thrown by `collect` at the first chunk past the limit.
            throw hint.map { APIError.bodyTooLarge(limit: limit, hint: $0) } ?? APIError.bodyTooLarge(limit: limit)
        }
    }

    /// 413 when Content-Length announces more than `limit` bytes: checked first, before the
    /// model is looked up, so an upload that will be refused is refused at once.
    func checkDeclaredLength(limit: Int, hint: String? = nil) throws(APIError) {
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit {
            throw hint.map { APIError.bodyTooLarge(limit: limit, hint: $0) } ?? APIError.bodyTooLarge(limit: limit)
        }
    }

    /// The unsigned 64-bit query parameter `name` (a seed), nil when absent; 400 otherwise.
    func unsignedQuery(_ name: String) throws -> UInt64? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = UInt64(text) else {
            throw APIError(.badRequest, "?\(name)= must be an integer from 0 to \(UInt64.max), got \"\(text)\"")
        }
        return value
    }

    /// The integer query parameter `name`, nil when absent; 400 when it is not an integer.
    func integerQuery(_ name: String) throws -> Int? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text) else {
            throw APIError(.badRequest, "?\(name)= must be an integer, got \"\(text)\"")
        }
        return value
    }

    /// The images of a prediction request: the raw body (`curl -T img.png`, `--data-binary`),
    /// or every file part of a multipart/form-data body (`curl -F data=@a.png -F data=@b.png`), in order.
    func uploadedImages(limit: Int) async throws -> [UploadedImage] {
        let contentType = headers[.contentType].map(MediaTypeHeader.init)
        if let contentType, contentType.type == "multipart/form-data" {
            guard let boundary = contentType.parameter("boundary"), !boundary.isEmpty else {
                throw APIError(.badRequest, "multipart/form-data without a boundary parameter in Content-Type")
            }
            // Room for a few form fields beside the most images a request may carry.
            return try multipartUploads(
                of: try await collectBody(limit: limit), boundary: boundary,
                maxParts: 2 * Inference.maxImagesPerRequest)
        }
        if let contentType, contentType.type.hasPrefix("text/") || contentType.type == "application/json" {
            throw APIError(
                .unsupportedMediaType,
                "Content-Type \(contentType.type) is not an image; send the image bytes (curl -T image.png URL) or multipart/form-data (curl -F data=@image.png URL)"
            )
        }
        let body = try await collectBody(limit: limit)
        guard body.readableBytes > 0 else {
            throw APIError(.badRequest, "empty request body; send an image (curl -T image.png URL)")
        }
        return [UploadedImage(filename: nil, bytes: Array(body.readableBytesView))]
    }
}
