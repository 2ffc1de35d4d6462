import Foundation
import Glibc
import NFCheckpoint
import NFLayers
import NFModels
import NFTestSupport
import Synchronization
import Testing

@testable import NFServer

/// SIGTERM in the middle of a load, on the real `nfserve serve` process (issue 8): readiness
/// turns 503 at once while the server still serves for `--shutdown-delay`; then new connections
/// are refused; every request that reached the server is answered, a request still computing
/// too; the process exits 0.
@Suite(.serialized, .machineLoad(.shared)) struct ShutdownTests {
    static var binary: String { ServerBinary.path }

    static func freePort() throws -> Int { try ServerBinary.freePort() }

    /// `tiny` plus `slow`, a full-width resnet18 at 224x224 (1.8 GFLOP an image) whose batch
    /// of 48 images keeps the compute pool busy for a second or more.
    static func repository() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-shutdown-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestCheckpoints.root + "/tiny", toPath: root.appendingPathComponent("tiny").path)
        let slow = root.appendingPathComponent("slow")
        try FileManager.default.createDirectory(at: slow, withIntermediateDirectories: true)
        let config = """
            {"architecture": "resnet18", "num_classes": 3, "model_args": {"in_chans": 1},
             "pretrained_cfg": {"input_size": [1, 224, 224], "crop_pct": 1.0, "mean": [0.5], "std": [0.25]}}
            """
        try Data(config.utf8).write(to: slow.appendingPathComponent("config.json"))
        let recorder = RecordingWeightSource(InitializerWeightSource(seed: 2))
        _ = try CheckpointFolder.build(config: try ModelConfig(jsonData: Data(config.utf8)), weights: recorder)
        let weights = SafeTensorsWriter.encode(
            recorder.recorded.keys.sorted().map { key in
                let tensor = recorder.recorded[key]!
                return (key, .F32, tensor.shape, tensor.storage.withUnsafeBytes { Array($0) })
            })
        try Data(weights).write(to: slow.appendingPathComponent("model.safetensors"))
        return root
    }

    enum Outcome: Sendable, Equatable {
        case answered(String)  // the status line
        case refused  // connect() refused: the server no longer accepts
        /// Connected and sent, then reset before any response: a connection still in the
        /// kernel's accept queue when the listener closed (the kernel resets those; the server
        /// never read the request, so the client may send it again). nfserve does not drain
        /// that queue before it closes the listener: each client's last connection can meet it.
        case reset
        case unanswered  // connected, sent, and the connection closed (or timed out) without a response
    }

    /// One request on a connection of its own.
    static func request(port: Int, _ head: String, body: [UInt8] = []) -> Outcome {
        guard let connection = try? RawHTTPConnection(port: port) else { return .refused }
        do {
            try connection.send(Array(head.utf8) + body)
        } catch let failure as RawHTTPConnection.SocketFailure where failure.errno == ECONNRESET || failure.errno == EPIPE {
            return .reset
        } catch {
            return .unanswered
        }
        let (head, reset) = connection.readHeadOrEnd(timeout: .seconds(60))
        guard let response = head else { return reset ? .reset : .unanswered }
        return .answered(response.components(separatedBy: "\r\n").first ?? response)
    }

    @Test func sigtermUnderLoadLosesNoRequest() async throws {
        let binary = Self.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build nfserve first: \(binary)")
        let root = try Self.repository()
        defer { try? FileManager.default.removeItem(at: root) }
        let port = try Self.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--port", "\(port)", "--grpc-port", "0", "--checkpoints", root.path, "--datasets", "/nonexistent",
            "--shutdown-delay", "1", "--shutdown-grace", "30", "--log-level", "error",
        ]
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let readyHead = "GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        let deadline = ContinuousClock.now + .seconds(120)
        while try await onThread({ Self.request(port: port, readyHead) }) != .answered("HTTP/1.1 200 OK") {
            guard ContinuousClock.now < deadline, process.isRunning else { throw TestFailure("nfserve never became ready") }
            try await Task.sleep(for: .milliseconds(50))
        }

        // Eight clients classifying in a loop, each request on a new connection, until refused.
        let image = TestPNG.sample()
        let putHead = "PUT /predictions/tiny HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(image.count)\r\n\r\n"
        let clients = (0..<8).map { _ in
            Task {
                try await onThread {
                    var outcomes: [Outcome] = []
                    while outcomes.count < 10_000 {
                        let outcome = Self.request(port: port, putHead, body: image)
                        outcomes.append(outcome)
                        if outcome == .refused { break }
                    }
                    return outcomes
                }
            }
        }

        try await Task.sleep(for: .milliseconds(500))

        // A batch still computing when the signal comes.
        let images = (0..<48).map { Data(TestPNG.sample(seed: $0)).base64EncodedString() }
        let slowBody = Array(
            #"{"inputs": [{"name": "input", "datatype": "BYTES", "shape": [48], "data": ["\#(images.joined(separator: "\",\""))"]}]}"#.utf8)
        let slowHead = "POST /v2/models/slow/infer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(slowBody.count)\r\n\r\n"
        let slow = Task { try await onThread { (Self.request(port: port, slowHead, body: slowBody), ContinuousClock.now) } }

        try await Task.sleep(for: .milliseconds(300))
        let signalled = ContinuousClock.now
        #expect(kill(process.processIdentifier, SIGTERM) == 0)
        try await Task.sleep(for: .milliseconds(200))
        // Within --shutdown-delay: not ready, still live and serving.
        let readiness = try await onThread { Self.request(port: port, readyHead) }
        let liveness = try await onThread { Self.request(port: port, "GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") }
        #expect(readiness == .answered("HTTP/1.1 503 Service Unavailable"))
        #expect(liveness == .answered("HTTP/1.1 200 OK"))

        let exitDeadline = ContinuousClock.now + .seconds(60)
        while process.isRunning, ContinuousClock.now < exitDeadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "nfserve exits after the requests in flight")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)

        let (slowOutcome, slowAnswered) = try await slow.value
        #expect(slowOutcome == .answered("HTTP/1.1 200 OK"), "the request computing when SIGTERM came is answered")
        #expect(slowAnswered > signalled + .milliseconds(500), "it was still running well after the signal")
        var outcomes: [Outcome] = []
        for client in clients { outcomes += try await client.value }
        let ok = outcomes.filter { $0 == .answered("HTTP/1.1 200 OK") }.count
        let failed = outcomes.filter { outcome in
            switch outcome {
            case let .answered(status): status != "HTTP/1.1 200 OK"
            case .unanswered: true
            case .refused, .reset: false
            }
        }
        // At most each client's last connection, opened as the listener closed.
        #expect(outcomes.filter { $0 == .reset }.count <= 8)
        #expect(ok > 50, "the load ran: \(ok) answered before and after the signal")
        #expect(failed.isEmpty, "\(failed.count) of \(outcomes.count) requests that reached the server failed: \(failed.prefix(5))")
        #expect(outcomes.filter { $0 == .refused }.count == 8, "each client ends refused once the server stops accepting")
    }
}
