import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc
import NFTestSupport
import Testing

@testable import NFGRPC

/// SIGTERM on a real `nfserve serve` with its gRPC listener: `ServerReady` says false at once,
/// calls are still answered during `--shutdown-delay`, then a new connection's call is refused
/// with UNAVAILABLE, and the process exits 0.
@Suite(.serialized, .machineLoad(.shared)) struct GRPCShutdownTests {
    typealias Service = Inference_GRPCInferenceService.Client<HTTP2ClientTransport.Posix>

    static func withService<Result: Sendable>(port: Int, _ body: (Service) async throws -> Result) async throws -> Result {
        try await withGRPCClient(
            transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        ) { client in try await body(Service(wrapping: client)) }
    }

    @Test func sigtermDrainsTheGRPCListener() async throws {
        let (httpPort, grpcPort) = (try ServerBinary.freePort(), try ServerBinary.freePort())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerBinary.path)
        process.arguments = [
            "serve", "--port", "\(httpPort)", "--grpc-port", "\(grpcPort)", "--checkpoints",
            GRPCTestServer.repository.appendingPathComponent("checkpoints").path, "--datasets", "/nonexistent",
            "--shutdown-delay", "1", "--log-level", "warning",
        ]
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var ready = false
        for _ in 0..<300 where !ready {
            ready = (try? await Self.withService(port: grpcPort) { try await $0.serverReady(.init()).ready }) ?? false
            if !ready { try await Task.sleep(for: .milliseconds(200)) }
        }
        try #require(ready, "the server's gRPC listener did not become ready in 60 s")

        let request = GRPCInferenceTests.request(raw: true)
        try await Self.withService(port: grpcPort) { service in
            #expect(try await service.modelInfer(request).rawOutputContents.count == 1)
            kill(process.processIdentifier, SIGTERM)
            var draining = false
            for _ in 0..<50 where !draining {
                draining = try await service.serverReady(.init()).ready == false
                if !draining { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(draining, "ServerReady still true 0.5 s after SIGTERM")
            // Within --shutdown-delay: still served.
            #expect(try await service.modelInfer(request).rawOutputContents.count == 1)
        }
        try await Task.sleep(for: .milliseconds(1500))
        await #expect {
            try await Self.withService(port: grpcPort) { try await $0.modelInfer(request) }
        } throws: { ($0 as? RPCError)?.code == .unavailable }
        for _ in 0..<300 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "still running 30 s after SIGTERM")
        #expect(process.terminationStatus == 0)
    }
}
