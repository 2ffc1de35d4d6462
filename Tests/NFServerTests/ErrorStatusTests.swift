import Foundation
import Hummingbird
import HummingbirdTesting
import NFImage
import NFTestSupport
import Synchronization
import Testing

@testable import NFServer
@testable import NFServing

/// Every error status of docs/api.md, each with the JSON body `{"error": "..."}`, and the server
/// still serving afterwards.
@Suite(.machineLoad(.shared)) struct ErrorStatusTests {
    /// Each image error's status, decided by the server (NFImage only names the kind).
    @Test func imageErrorStatuses() {
        #expect(APIError(mapping: ImageError.empty).status.code == 400)
        #expect(APIError(mapping: ImageError.corrupt("x")).status.code == 400)
        #expect(APIError(mapping: ImageError.unsupportedFormat("GIF")).status.code == 415)
        #expect(APIError(mapping: ImageError.tooManyPixels(width: 2, height: 3, limit: 5)).status.code == 422)
    }

    /// Each refusal of the serving layer's status, with Retry-After for the busy ones.
    @Test func servingErrorStatuses() {
        let cases: [(ServingError.Kind, Int)] = [
            (.unknownModel, 404), (.noSuchFolder, 404), (.modelUnavailable, 503), (.loadFailed, 422),
            (.busy(retryAfterSeconds: 7), 503), (.tooLarge, 413), (.invalidArgument, 400), (.conflict, 409),
        ]
        for (kind, code) in cases {
            let error = APIError(mapping: ServingError(kind, "m"))
            #expect(error.status.code == code, "\(kind)")
            #expect(error.message == "m")
            #expect(error.headers[.retryAfter] == (code == 503 && kind != .modelUnavailable ? "7" : nil), "\(kind)")
        }
    }

    /// A handler cancelled as the server stops (a recalibration past the shutdown grace) answers
    /// 503, never a 500 that the logs would count as a server fault.
    @Test func cancelledRequestIs503() {
        let error = APIError(mapping: CancellationError())
        #expect(error.status.code == 503)
        #expect(error.message.contains("shutting down"))
    }

    @Test func unknownModelIs404() async throws {
        try await TestServer.app().test(.router) { client in
            for (uri, method) in [("/predictions/nope", HTTPRequest.Method.post), ("/models/nope", .get), ("/v2/models/nope/infer", .post)] {
                let response = try await client.execute(uri: uri, method: method, body: ByteBuffer(bytes: TestPNG.sample()))
                #expect(response.status == .notFound, "\(uri)")
                let message = try response.errorMessage
                #expect(message.contains("\"nope\"") && message.contains("tiny"), "names the model and the known ones: \(message)")
            }
        }
    }

    @Test func unknownRouteIsAJSON404() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/no/such/route", method: .get)
            #expect(response.status == .notFound)
            #expect(try response.errorMessage.contains("/no/such/route"))
        }
    }

    @Test func knownPathWithAnotherMethodIs405() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .get)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST, PUT")
            #expect(try response.errorMessage.contains("POST"))
            #expect(try await client.execute(uri: "/models", method: .delete).status == .methodNotAllowed)
            #expect(try await client.execute(uri: "/v2/models/tiny/infer", method: .get).status == .methodNotAllowed)
        }
    }

    @Test func bodyOverTheLimitIs413() async throws {
        let configuration = TestServer.configuration(maxBodyBytes: 1000)
        try await TestServer.app(configuration: configuration).test(.router) { client in
            let big = TestPNG.sample(width: 60, height: 60)
            #expect(big.count > 1000)
            for uri in ["/predictions/tiny", "/v2/models/tiny/infer"] {
                let response = try await client.execute(uri: uri, method: .post, body: ByteBuffer(bytes: big))
                #expect(response.status == .contentTooLarge, "\(uri)")
                #expect(try response.errorMessage.contains("--max-body-mb"))
            }
            let small = try await client.execute(
                uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: TestPNG.sample(width: 8, height: 8)))
            #expect(small.status == .ok)
        }
    }

    /// Without a Content-Length (chunked upload), the limit stops the read as soon as it is passed.
    @Test func chunkedBodyIsCutOffAtTheLimit() async throws {
        let chunksRead = CallCount()
        let chunks = AsyncStream<ByteBuffer> { continuation in
            for _ in 0..<100 { continuation.yield(ByteBuffer(repeating: 0x41, count: 100)) }
            continuation.finish()
        }.map { chunk in
            chunksRead.increment()
            return chunk
        }
        let request = Request(
            head: HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/"),
            body: RequestBody(asyncSequence: chunks))
        await #expect {
            try await request.collectBody(limit: 1000)
        } throws: { error in
            APIError(mapping: error).status == .contentTooLarge
        }
        #expect(chunksRead.value == 11, "stops at the first chunk past 1000 bytes")
    }

    @Test func unsupportedMediaIs415() async throws {
        let gif =
            Array("GIF89a".utf8) + [
                0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x21, 0xF9, 0x04,
                0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
                0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
            ]
        try await TestServer.app().test(.router) { client in
            let gifResponse = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: gif))
            #expect(gifResponse.status == .unsupportedMediaType)
            _ = try gifResponse.errorMessage
            let text = try await client.execute(
                uri: "/predictions/tiny", method: .post, headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: "a cat"))
            #expect(text.status == .unsupportedMediaType)
            #expect(try text.errorMessage.contains("text/plain"))
        }
    }

    @Test func imageOverThePixelLimitIs422FromTheHeader() async throws {
        // Only the signature and IHDR: a 100000 x 100000 claim with no pixel data at all.
        let header = TestPNG.header(width: 100_000, height: 100_000)
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: header))
            #expect(response.status == .unprocessableContent)
            _ = try response.errorMessage
        }
    }

    @Test func undecodableImagesAre400() async throws {
        let truncated = Array(TestPNG.sample().dropLast(40))
        try await TestServer.app().test(.router) { client in
            for body in [truncated, []] {
                let response = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: body))
                #expect(response.status == .badRequest)
                _ = try response.errorMessage
            }
            let (headers, multipart) = multipartBody([("good.png", TestPNG.sample()), ("bad.png", truncated)])
            let named = try await client.execute(uri: "/predictions/tiny", method: .post, headers: headers, body: multipart)
            #expect(named.status == .badRequest)
            #expect(try named.errorMessage.hasPrefix("bad.png: "), "the failing part is named")
            let after = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(after.status == .ok, "the server keeps serving")
        }
    }

    @Test func tooManyImagesInOneRequestIs413() async throws {
        let image = TestPNG.sample()
        let files = (0...Inference.maxImagesPerRequest).map { ("\($0).png", image) }
        let (headers, body) = multipartBody(files)
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .post, headers: headers, body: body)
            #expect(response.status == .contentTooLarge)
            #expect(try response.errorMessage.contains("at most \(Inference.maxImagesPerRequest)"))
            let (okHeaders, okBody) = multipartBody(Array(files.prefix(2)))
            #expect(try await client.execute(uri: "/predictions/tiny", method: .post, headers: okHeaders, body: okBody).status == .ok)
        }
    }

    @Test func failedModelIs503WithItsError() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/broken", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .serviceUnavailable)
            #expect(try response.errorMessage.contains("no model.safetensors"))
        }
    }

    @Test func fullQueueIs503Overloaded() async throws {
        let pool = ComputePool(maxQueued: 0)
        let gate = DispatchSemaphore(value: 0)
        let started = CallCount()
        // Occupy the pool's one slot until the request has been refused.
        let blocker = Task {
            try await pool.run {
                started.increment()
                gate.wait()
            }
        }
        while started.value == 0 { try await Task.sleep(for: .milliseconds(5)) }
        try await TestServer.app(pool: pool).test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] != nil)
            #expect(try response.errorMessage.contains("overloaded"))
            gate.signal()
            try await blocker.value
            let after = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(after.status == .ok)
        }
    }
}

/// A thread-safe count, for closures that run on other threads.
final class CallCount: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// The one authorization check every admin route uses (`/v2/repository/...`).
@Suite struct AdminAuthorizationTests {
    static func request(authorization: String?) -> Request {
        var headers: HTTPFields = [:]
        if let authorization { headers[.authorization] = authorization }
        return Request(
            head: HTTPRequest(
                method: .post, scheme: "http", authority: "localhost", path: "/models/tiny/restore",
                headerFields: headers),
            body: RequestBody(buffer: ByteBuffer()))
    }

    @Test func rightTokenPasses() throws {
        try AdminAuthorization(token: "s3cret").authorize(Self.request(authorization: "Bearer s3cret"))
    }

    @Test(arguments: [nil, "Bearer wrong", "Bearer s3cre", "Basic s3cret", "Bearer "])
    func missingOrWrongTokenIs401(authorization: String?) {
        #expect { try AdminAuthorization(token: "s3cret").authorize(Self.request(authorization: authorization)) } throws: { error in
            (error as? APIError)?.status == .unauthorized && (error as? APIError)?.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true
        }
    }

    @Test func withoutAConfiguredTokenAdminIsRefused() {
        #expect { try AdminAuthorization(token: nil).authorize(Self.request(authorization: "Bearer anything")) } throws: { error in
            (error as? APIError)?.status == .forbidden && "\(error)".contains("--admin-token-file")
        }
    }
}
