import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Hummingbird
import Logging
import NFDiagnostics
import NFOpenInference
import ServiceLifecycle

@testable import NFGRPC
@testable import NFPipeline
@testable import NFServer
@testable import NFServing

/// The gRPC front over the shipped `fmnist-resnet-bn` checkpoint (trained by
/// tools/train/train_fmnist.py), on a free port, beside the HTTP router built over the same store
/// and `Inference`: the two fronts of one server, as `nfserve serve` composes them.
struct GRPCTestServer {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = "fmnist-resnet-bn"
    static let pipeline: ModelPipeline = try! ModelPipeline.load(directory: repository.appendingPathComponent("checkpoints/\(model)").path)

    /// The same network served as `strict`, taking inputs of 8x8 and more (as a network whose
    /// strides and windows need a larger input does).
    static let strict: ModelPipeline = {
        let loaded = try! ModelPipeline.load(directory: repository.appendingPathComponent("checkpoints/\(model)").path, name: "strict")
        return ModelPipeline(loaded: loaded.loaded, preprocessing: loaded.preprocessing, flops: loaded.flops, minimumInputSize: 8)
    }()

    static var logger: Logger {
        var logger = Logger(label: "nfserve-grpc-tests")
        logger.logLevel = .critical
        return logger
    }

    let store: ModelStore
    let inference: Inference
    let lifecycle = ServerLifecycle()
    let metrics = ServerMetrics()
    let configuration: ServerConfiguration
    let front: GRPCFront

    init(maxMessageBytes: Int = 1 << 20, adminToken: String? = nil) {
        store = ModelStore(
            entries: [
                .init(name: Self.model, directory: "", status: .ready(Self.pipeline)),
                .init(name: "strict", directory: "", status: .ready(Self.strict)),
                .init(name: "broken", directory: "", status: .failed("no model.safetensors")),
            ], finished: true)
        configuration = ServerConfiguration(host: "127.0.0.1", port: 0, checkpoints: "/nonexistent", maxBodyBytes: maxMessageBytes)
        inference = Inference(
            pool: ComputePool(maxQueued: 64), metrics: metrics, maxPixels: 1_000_000, live: LiveMonitors(enabled: true, budget: nil))
        front = GRPCFront(
            GRPCConfiguration(host: "127.0.0.1", port: 0, maxMessageBytes: maxMessageBytes, adminToken: adminToken),
            store: store, loader: ModelLoader(), openInference: OpenInference(inference: inference), lifecycle: lifecycle,
            metrics: metrics, logger: Self.logger)
    }

    /// The HTTP router of the same server (same store, same `Inference`).
    var router: Router<ServerRequestContext> {
        buildRouter(configuration, store: store, pool: inference.pool, metrics: metrics, inference: inference)
    }

    /// Runs the front, calls `body` with a client connected to it, then shuts the front down.
    @discardableResult
    func withClient<Result: Sendable>(
        _ body: (Inference_GRPCInferenceService.Client<HTTP2ClientTransport.Posix>, ServiceGroup) async throws -> Result
    ) async throws -> Result {
        let group = ServiceGroup(services: [front], logger: Self.logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            let port = try await front.listeningPort
            let result = try await withGRPCClient(
                transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            ) { client in
                try await body(Inference_GRPCInferenceService.Client(wrapping: client), group)
            }
            await group.triggerGracefulShutdown()
            return result
        }
    }
}
