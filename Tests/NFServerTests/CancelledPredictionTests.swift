import Foundation
import Hummingbird
import HummingbirdTesting
import NFDiagnostics
import NFPipeline
import NFTensors
import NFTestSupport
import NIOCore
import Testing

@testable import NFServer
@testable import NFServing

/// A prediction whose client hangs up while it waits for the compute pool leaves the queue:
/// counted as 499, and never computed.
@Suite(.machineLoad(.shared)) struct CancelledPredictionTests {
    @Test func aClientThatLeavesTakesItsRequestOutOfTheQueue() async throws {
        let pool = ComputePool(maxQueued: 64)
        let app = try await buildApplication(
            TestServer.configuration(), logger: TestServer.logger,
            lifecycle: ServerLifecycle(), pool: pool)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let deadline = ContinuousClock.now + .seconds(30)
            while try await client.execute(uri: "/v2/models/tiny/ready", method: .get).status != .ok, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let (gate, blocker) = try await DynamicBatchingTests.block(pool)
            let png = TestPNG.sample()
            let connection = try await onThread { try RawHTTPConnection(port: port) }
            try await onThread {
                try connection.send(
                    Array("PUT /predictions/tiny HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: \(png.count)\r\n\r\n".utf8)
                        + png)
            }
            await DynamicBatchingTests.waitUntil { pool.heldBytes > 0 }  // admitted, behind the blocker
            connection.hangUp()
            var left = false
            let start = ContinuousClock.now
            while !left, ContinuousClock.now - start < .seconds(10) {
                left = String(buffer: try await client.execute(uri: "/metrics", method: .get).body).contains(#"status="499""#)
                if !left { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(left, "the request did not end when its client left")
            gate.signal()
            try await blocker.value
            let after = try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: png))
            #expect(after.status == .ok)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"nfserve_inference_images_total{model="tiny"} 1"#), "only the second request was computed")
        }
    }
}
