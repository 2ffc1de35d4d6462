import Foundation
import Hummingbird
import HummingbirdTesting
import NFTestSupport
import Testing

@testable import NFServer
@testable import NFServing

/// Triton's model repository extension over the checkpoints folder, behind the admin token
/// (issue 8): index, load (reload from disk; a failed reload keeps the old version), unload,
/// and models swapped under load with no failed request.
@Suite(.machineLoad(.shared)) struct RepositoryTests {
    static let token = "s3cret-token"
    static let admin: HTTPFields = [.authorization: "Bearer \(token)"]

    /// A repository folder of its own holding a copy of `tiny`, which a test may break or add to.
    static func repository() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-repository-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestCheckpoints.root + "/tiny", toPath: root.appendingPathComponent("tiny").path)
        return root
    }

    static func configuration(root: URL, token: String? = RepositoryTests.token) -> ServerConfiguration {
        var configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, checkpoints: root.path, datasets: "/nonexistent",
            maxBodyBytes: 1 << 20, maxPixels: 1_000_000)
        configuration.adminToken = token
        return configuration
    }

    static func waitUntilReady(_ client: some TestClientProtocol) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try await client.execute(uri: "/v2/health/ready", method: .get).status != .ok {
            guard ContinuousClock.now < deadline else { throw TestFailure("never ready") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func index(_ client: some TestClientProtocol) async throws -> [[String: Any]] {
        let response = try await client.execute(uri: "/v2/repository/index", method: .post, headers: admin, body: ByteBuffer(string: "{}"))
        #expect(response.status == .ok)
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]])
    }

    @Test func adminRoutesNeedTheToken() async throws {
        let root = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let app = try await buildApplication(Self.configuration(root: root), logger: TestServer.logger)
        try await app.test(.router) { client in
            for path in ["/v2/repository/index", "/v2/repository/models/tiny/load", "/v2/repository/models/tiny/unload"] {
                for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"], [.authorization: "Basic \(Self.token)"]] {
                    let response = try await client.execute(uri: path, method: .post, headers: headers)
                    #expect(response.status == .unauthorized, "\(path) \(headers)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                    _ = try response.errorMessage
                }
            }
        }
        let disabled = try await buildApplication(Self.configuration(root: root, token: nil), logger: TestServer.logger)
        try await disabled.test(.router) { client in
            let response = try await client.execute(uri: "/v2/repository/index", method: .post, headers: Self.admin)
            #expect(response.status == .forbidden)
            let message = try response.errorMessage
            #expect(message.contains("--admin-token-file") && message.contains("NFSERVE_ADMIN_TOKEN"))
        }
    }

    @Test func indexLoadAndUnload() async throws {
        let root = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let app = try await buildApplication(Self.configuration(root: root), logger: TestServer.logger)
        try await app.test(.live) { client in
            try await Self.waitUntilReady(client)
            var index = try await Self.index(client)
            #expect(index.map { $0["name"] as? String } == ["tiny"])
            #expect(index.first?["state"] as? String == "READY")

            // A folder added after the start is listed, then loaded on request.
            try FileManager.default.copyItem(atPath: root.appendingPathComponent("tiny").path, toPath: root.appendingPathComponent("tiny2").path)
            index = try await Self.index(client)
            #expect(index.map { $0["state"] as? String } == ["READY", "UNAVAILABLE"])
            #expect(
                try await client.execute(uri: "/predictions/tiny2", method: .put, body: ByteBuffer(bytes: TestPNG.sample())).status
                    == .serviceUnavailable)
            #expect(try await client.execute(uri: "/v2/repository/models/tiny2/load", method: .post, headers: Self.admin).status == .ok)
            #expect(try await client.execute(uri: "/predictions/tiny2", method: .put, body: ByteBuffer(bytes: TestPNG.sample())).status == .ok)

            #expect(try await client.execute(uri: "/v2/repository/models/tiny2/unload", method: .post, headers: Self.admin).status == .ok)
            let unloaded = try await client.execute(uri: "/predictions/tiny2", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(unloaded.status == .serviceUnavailable)
            #expect(try unloaded.errorMessage.contains("not loaded"))
            #expect(try await Self.index(client).map { $0["state"] as? String } == ["READY", "UNAVAILABLE"])
            let ready = try await client.execute(
                uri: "/v2/repository/index", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"ready": true}"#))
            #expect(String(buffer: ready.body).contains("tiny2") == false)

            for name in ["nope", "..", ".hidden", "..%2F..%2Fetc"] {
                let response = try await client.execute(uri: "/v2/repository/models/\(name)/load", method: .post, headers: Self.admin)
                #expect(response.status == .notFound, "\(name)")
            }
        }
    }

    @Test func failedReloadKeepsTheLoadedVersionServing() async throws {
        let root = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let app = try await buildApplication(Self.configuration(root: root), logger: TestServer.logger)
        try await app.test(.live) { client in
            try await Self.waitUntilReady(client)
            let config = root.appendingPathComponent("tiny/config.json")
            let good = try Data(contentsOf: config)
            try Data("{\"architecture\": \"resnet18\", \"num_classes\": 7}".utf8).write(to: config)
            let reload = try await client.execute(uri: "/v2/repository/models/tiny/load", method: .post, headers: Self.admin)
            #expect(reload.status == .unprocessableContent)
            let message = try reload.errorMessage
            #expect(message.contains("failed to load") && message.contains("keeps serving"), "\(message)")
            #expect(try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: TestPNG.sample())).status == .ok)
            try good.write(to: config)
            #expect(try await client.execute(uri: "/v2/repository/models/tiny/load", method: .post, headers: Self.admin).status == .ok)
        }
    }

    /// Requests queued behind a busy compute pool when the model is reloaded, and when it is
    /// unloaded, all finish with 200: a request holds the model it started with.
    @Test func requestsInFlightFinishAcrossReloadAndUnload() async throws {
        let root = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = ModelStore(
            entries: [.init(name: "tiny", directory: root.path + "/tiny", status: .ready(TestCheckpoints.tiny))],
            finished: true, root: root.path)
        let pool = ComputePool(maxQueued: 64)
        let configuration = Self.configuration(root: root)
        let app = Application(router: buildRouter(configuration, store: store, pool: pool), logger: TestServer.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            for action in ["load", "unload"] {
                let gate = DispatchSemaphore(value: 0)
                let blocker = Task { try await pool.run { gate.wait() } }
                let requests = (0..<6).map { _ in
                    Task { try await Self.put(port: port) }
                }
                try await Task.sleep(for: .milliseconds(200))  // the requests are waiting for the pool
                let admin = try await client.execute(uri: "/v2/repository/models/tiny/\(action)", method: .post, headers: Self.admin)
                #expect(admin.status == .ok, "\(action)")
                gate.signal()
                try await blocker.value
                for request in requests {
                    #expect(try await request.value.hasPrefix("HTTP/1.1 200"), "a request in flight during \(action)")
                }
            }
        }
    }

    /// Clients predicting in a loop while the model is reloaded again and again: none fails.
    @Test func reloadUnderLoadFailsNoRequest() async throws {
        let root = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let app = try await buildApplication(Self.configuration(root: root), logger: TestServer.logger)
        try await app.test(.live) { client in
            try await Self.waitUntilReady(client)
            let port = try #require(client.port)
            let statuses = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var heads: [String] = []
                        for _ in 0..<25 { heads.append(try await Self.put(port: port)) }
                        return heads
                    }
                }
                for _ in 0..<8 {
                    let reload = try await client.execute(uri: "/v2/repository/models/tiny/load", method: .post, headers: Self.admin)
                    #expect(reload.status == .ok)
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.count == 100)
            #expect(statuses.allSatisfy { $0.hasPrefix("HTTP/1.1 200") }, "\(Set(statuses.map { $0.prefix(12) }))")
        }
    }

    /// One `curl -T` on a connection of its own; the response head.
    static func put(port: Int) async throws -> String {
        try await onThread {
            let connection = try RawHTTPConnection(port: port)
            let image = TestPNG.sample()
            try connection.send(
                Array("PUT /predictions/tiny HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(image.count)\r\n\r\n".utf8) + image
            )
            return connection.readHead() ?? "no answer"
        }
    }
}
