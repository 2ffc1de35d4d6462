import Foundation
import Glibc
import NFTestSupport
import Testing

/// `nfserve serve` as KServe's runtime starts it (one model folder, a name from the template) and
/// as a user with timm weights in the Hugging Face cache does; and a path that does not exist,
/// which must stop the start (a server serving nothing must not report ready to a probe).
@Suite(.serialized, .machineLoad(.shared)) struct ModelSourceProcessTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func status(port: Int, _ method: String, _ path: String, body: [UInt8] = []) -> String? {
        guard let connection = try? RawHTTPConnection(port: port) else { return nil }
        let head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n"
        guard (try? connection.send(Array(head.utf8) + body)) != nil else { return nil }
        return connection.readHead(timeout: .seconds(30))?.components(separatedBy: "\r\n").first
    }

    /// Runs `nfserve serve ARGS` with `environment` added; nil when it exited before it was ready.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, Int, Pipe) {
        let port = try ServerBinary.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerBinary.path)
        process.arguments = ["serve", "--port", "\(port)", "--grpc-port", "0", "--datasets", "/nonexistent", "--log-level", "error"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        return (process, port, errors)
    }

    @Test func aPathThatDoesNotExistStopsTheStart() async throws {
        for arguments in [["--checkpoints", "/nonexistent"], ["--model-dir", "/nonexistent/model"], ["--model-dir", "hf:timm/absent"]] {
            let (process, _, errors) = try Self.start(arguments, environment: ["HF_HOME": "/nonexistent"])
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!process.isRunning, "\(arguments): nfserve must not start")
            if process.isRunning { process.terminate() }
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus != 0, "\(arguments)")
            #expect(message.contains(arguments[1]) || message.contains("absent"), "\(arguments): \(message)")
        }
    }

    /// A Hugging Face cache as `huggingface_hub` lays it out (refs/main naming a commit whose
    /// snapshot links into blobs/), holding the shipped fmnist-resnet-bn as `timm/fmnist-resnet-bn`;
    /// served with `--model-dir hf:timm/fmnist-resnet-bn --model-name fashion`, no copy made.
    @Test func servesOneModelFromTheHubCacheUnderItsName() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let repo = home.appendingPathComponent("hub/models--timm--fmnist-resnet-bn")
        let snapshot = repo.appendingPathComponent("snapshots/5e1f00d")
        try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: repo.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: repo.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        try Data("5e1f00d".utf8).write(to: repo.appendingPathComponent("refs/main"))
        for file in ["config.json", "model.safetensors"] {
            let source = Self.repository.appendingPathComponent("checkpoints/fmnist-resnet-bn/\(file)").path
            try FileManager.default.createSymbolicLink(atPath: repo.appendingPathComponent("blobs/\(file).blob").path, withDestinationPath: source)
            try FileManager.default.createSymbolicLink(
                atPath: snapshot.appendingPathComponent(file).path, withDestinationPath: "../../blobs/\(file).blob")
        }
        let (process, port, _) = try Self.start(
            ["--checkpoints", "/nonexistent", "--model-dir", "hf:timm/fmnist-resnet-bn", "--model-name", "fashion"],
            environment: ["HF_HOME": home.path])
        defer { if process.isRunning { process.terminate() } }
        let deadline = ContinuousClock.now + .seconds(120)
        while try await onThread({ Self.status(port: port, "GET", "/v2/health/ready") }) != "HTTP/1.1 200 OK" {
            guard ContinuousClock.now < deadline, process.isRunning else { throw TestFailure("nfserve never became ready") }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await onThread { Self.status(port: port, "GET", "/v2/models/fashion/ready") } == "HTTP/1.1 200 OK")
        #expect(try await onThread { Self.status(port: port, "GET", "/v2/models/fmnist-resnet-bn/ready") } == "HTTP/1.1 404 Not Found")
        let png = TestPNG.sample()
        #expect(try await onThread { Self.status(port: port, "PUT", "/predictions/fashion", body: png) } == "HTTP/1.1 200 OK")
        #expect(kill(process.processIdentifier, SIGTERM) == 0)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
