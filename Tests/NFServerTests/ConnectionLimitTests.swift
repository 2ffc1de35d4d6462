import Foundation
import Hummingbird
import HummingbirdTesting
import NFTestSupport
import Testing

@testable import NFServer

/// Connections a client holds open, on a real socket through the whole application: the
/// open-connection limit, the close after an early 413, oversized heads. The timeouts (head,
/// stalled body, idle keep-alive) are `ConnectionGuardTests` on virtual time, and their rules
/// `ConnectionStateTests`.
@Suite(.machineLoad(.shared)) struct ConnectionLimitTests {
    static func configuration(_ limits: ConnectionLimits, maxBodyBytes: Int = 200_000) -> ServerConfiguration {
        var configuration = TestServer.configuration(maxBodyBytes: maxBodyBytes)
        configuration.connectionLimits = limits
        return configuration
    }

    static let get = Array("GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)

    /// Python's urllib sends `Connection: close` and no `Expect`, writes the whole body, then
    /// reads: it must get the 413 and see the connection end, not hang.
    @Test func bodyOverTheLimitGets413AndTheConnectionEnds() async throws {
        let app = try await buildApplication(Self.configuration(.init(), maxBodyBytes: 100_000), logger: TestServer.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await onThread { try RawHTTPConnection(port: port) }
            let body = [UInt8](repeating: 7, count: 3_000_000)
            try await onThread {
                try connection.send(
                    Array("PUT /predictions/tiny HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
                        + body)
            }
            let head = try #require((try await onThread { connection.readHead() }), "the answer is readable after the upload")
            #expect(head.hasPrefix("HTTP/1.1 413"))
            #expect(head.lowercased().contains("connection: close"))
            let (_, closed) = (try await onThread { connection.readUntilClosed(timeout: .seconds(15)) })
            #expect(closed)
        }
    }

    @Test func connectionsOverTheLimitAreRefusedWithA503() async throws {
        let app = try await buildApplication(Self.configuration(.init(maxConnections: 2)), logger: TestServer.logger)
        try await app.test(.live) { client in
            // The test client's own connection is one of the two.
            #expect(try await client.execute(uri: "/v2/health/live", method: .get).status == .ok)
            let port = try #require(client.port)
            let second = try await onThread { try RawHTTPConnection(port: port) }
            try await onThread { try second.send(Self.get) }
            #expect((try await onThread { second.readHead() })?.hasPrefix("HTTP/1.1 200") == true)
            let third = try await onThread { try RawHTTPConnection(port: port) }
            try await onThread { try third.send(Self.get) }
            let (bytes, closed) = (try await onThread { third.readUntilClosed(timeout: .seconds(5)) })
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 503"), "\(text)")
            #expect(text.contains(#"{"error":"too many open connections"#))
            #expect(closed)
            // The connections within the limit still serve.
            #expect(try await client.execute(uri: "/v2/health/live", method: .get).status == .ok)
        }
    }

    /// A 2 MB header and 20,000 headers: refused by the HTTP decoder's limits (80 KB of header
    /// fields, 1000 fields) with a 400, the connection closed, and the server still serving.
    @Test(arguments: [
        ("a 2 MB header", "X-Big: " + String(repeating: "a", count: 2_000_000) + "\r\n"),
        ("20,000 headers", (0..<20_000).map { "X-H\($0): v\r\n" }.joined()),
    ])
    func oversizedRequestHeadIsRefused(name: String, headers: String) async throws {
        let app = try await buildApplication(Self.configuration(.init()), logger: TestServer.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try await onThread { try RawHTTPConnection(port: port) }
            _ = try? await onThread { try connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\(headers)\r\n".utf8)) }
            let (bytes, closed) = try await onThread { connection.readUntilClosed(timeout: .seconds(10)) }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.isEmpty || text.hasPrefix("HTTP/1.1 400"), "\(name): \(text.prefix(80))")
            #expect(closed, "\(name)")
            #expect(try await client.execute(uri: "/v2/health/live", method: .get).status == .ok, "\(name): still serving")
        }
    }
}
