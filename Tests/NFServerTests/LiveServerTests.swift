import Foundation
import Hummingbird
import HummingbirdTesting
import NFTestSupport
import Testing

@testable import NFServer

/// The whole application on a real socket.
@Suite(.machineLoad(.shared)) struct LiveServerTests {
    @Test func servesOverHTTP() async throws {
        let app = try await buildApplication(TestServer.configuration(maxBodyBytes: 200_000), logger: TestServer.logger)
        try await app.test(.live) { client in
            #expect(try await client.execute(uri: "/v2/health/live", method: .get).status == .ok)
            let deadline = ContinuousClock.now + .seconds(60)
            while try await client.execute(uri: "/v2/health/ready", method: .get).status != .ok, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let put = try await client.execute(uri: "/predictions/tiny?topk=2", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(put.status == .ok)
            #expect((try put.json["predictions"] as? [Any])?.count == 2)
            let (headers, body) = multipartBody([("a.png", TestPNG.sample(seed: 1)), ("b.png", TestPNG.sample(seed: 2))])
            let multipart = try await client.execute(uri: "/predictions/tiny", method: .post, headers: headers, body: body)
            #expect((try multipart.json["results"] as? [Any])?.count == 2)
            #expect(try await client.execute(uri: "/nowhere", method: .get).status == .notFound)
            // Last: the 413 closes the connection (the rest of the body is not read).
            let tooLarge = try await client.execute(
                uri: "/predictions/tiny", method: .post,
                body: ByteBuffer(repeating: 0, count: 300_000))
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.headers[.connection] == "close")
        }
    }

    /// `curl -T` sends `Expect: 100-continue` and waits a second for the interim answer before
    /// uploading; the server answers at once (and not at all for a body over the limit).
    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let app = try await buildApplication(TestServer.configuration(maxBodyBytes: 200_000), logger: TestServer.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let image = TestPNG.sample()
            // Blocking socket calls on their own threads, never on the cooperative pool that
            // runs the in-process server (a busy 2-core machine would starve it).
            let connection = try await onThread { try RawHTTPConnection(port: port) }
            try await onThread {
                try connection.send(
                    Array("PUT /predictions/tiny HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(image.count)\r\nExpect: 100-continue\r\n\r\n".utf8))
            }
            let interim = try #require(try await onThread { connection.readHead(timeout: .seconds(30)) })
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"))
            try await onThread { try connection.send(image) }
            let final = try #require(try await onThread { connection.readHead(timeout: .seconds(30)) })
            #expect(final.hasPrefix("HTTP/1.1 200") || final.hasPrefix("HTTP/1.1 503"), "200 once loaded, 503 before: \(final)")

            let tooLarge = try await onThread { try RawHTTPConnection(port: port) }
            try await onThread {
                try tooLarge.send(
                    Array("PUT /predictions/tiny HTTP/1.1\r\nHost: localhost\r\nContent-Length: 300000\r\nExpect: 100-continue\r\n\r\n".utf8))
            }
            let refused = try #require(try await onThread { tooLarge.readHead(timeout: .seconds(30)) })
            #expect(refused.hasPrefix("HTTP/1.1 413"), "no 100 for a body over the limit: \(refused)")
        }
    }

    /// A long dataset pass stops when its client closes the connection: the request ends as a
    /// 499 in the metrics within seconds instead of running through 10,000 images.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")))
    func closingTheConnectionStopsADatasetPass() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var configuration = TestServer.configuration(datasets: repository.appendingPathComponent("datasets").path)
        configuration.checkpoints = repository.appendingPathComponent("checkpoints").path
        let app = try await buildApplication(configuration, logger: TestServer.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let deadline = ContinuousClock.now + .seconds(60)
            while try await client.execute(uri: "/v2/health/ready", method: .get).status != .ok, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let connection = try await onThread { try RawHTTPConnection(port: port) }
            try await onThread {
                try connection.send(
                    Array("GET /diagnostics/esm?model=fmnist-resnet-bn&dataset=fashion-mnist-test HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            }
            try await Task.sleep(for: .milliseconds(300))
            connection.hangUp()
            let start = ContinuousClock.now
            var stopped = false
            while !stopped, ContinuousClock.now - start < .seconds(20) {
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                stopped = metrics.contains(#"status="499""#)
                if !stopped { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(stopped, "the pass did not stop after the client left")
        }
    }
}
