import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NFCheckpoint
import NFLayers
import NFModels
import NFPipeline
import NFTensors
import Testing

@testable import NFServer
@testable import NFServing

/// The checkpoints the server tests serve, written once per test process into a temporary folder:
/// `tiny`, a resnet18 narrowed to [4, 4, 4, 4] channels with 1 input channel and 3 classes,
/// initialized by `InitializerWeightSource(seed: 1)` (so its outputs are arbitrary but fixed);
/// and `broken`, a folder with a config.json but no weights, which must be listed as failed.
enum TestCheckpoints {
    static let labels = ["cat", "dog", "bird"]
    static let configJSON = """
        {"architecture": "resnet18", "num_classes": 3,
         "model_args": {"in_chans": 1, "channels": [4, 4, 4, 4]},
         "label_names": ["cat", "dog", "bird"],
         "pretrained_cfg": {"input_size": [1, 16, 16], "interpolation": "bilinear", "crop_pct": 1.0,
                            "crop_mode": "center", "mean": [0.5], "std": [0.25]}}
        """

    static let root: String = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-server-tests-\(UUID().uuidString)")
        do {
            let tiny = root.appendingPathComponent("tiny")
            try FileManager.default.createDirectory(at: tiny, withIntermediateDirectories: true)
            try Data(configJSON.utf8).write(to: tiny.appendingPathComponent("config.json"))
            try Data(weights()).write(to: tiny.appendingPathComponent("model.safetensors"))
            let broken = root.appendingPathComponent("broken")
            try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
            try Data(configJSON.utf8).write(to: broken.appendingPathComponent("config.json"))
        } catch {
            fatalError("cannot write the test checkpoints: \(error)")
        }
        return root.path
    }()

    /// The tiny model, loaded the way the server loads it.
    static let tiny: ModelPipeline = try! ModelPipeline.load(directory: root + "/tiny")

    /// Every tensor the architecture asks for, generated, as a safetensors file.
    private static func weights() throws -> [UInt8] {
        let recorder = RecordingWeightSource(InitializerWeightSource(seed: 1))
        _ = try CheckpointFolder.build(config: try ModelConfig(jsonData: Data(configJSON.utf8)), weights: recorder)
        return SafeTensorsWriter.encode(
            recorder.recorded.keys.sorted().map { key in
                let tensor = recorder.recorded[key]!
                return (key, .F32, tensor.shape, tensor.storage.withUnsafeBytes { Array($0) })
            })
    }
}

/// Applications over the test checkpoints.
enum TestServer {
    static var logger: Logger {
        var logger = Logger(label: "nfserve-tests")
        logger.logLevel = .critical
        return logger
    }

    static func configuration(maxBodyBytes: Int = 1 << 20, datasets: String = "/nonexistent") -> ServerConfiguration {
        ServerConfiguration(
            host: "127.0.0.1", port: 0, checkpoints: TestCheckpoints.root, datasets: datasets,
            maxBodyBytes: maxBodyBytes, maxPixels: 1_000_000)
    }

    /// A store where loading has finished: `tiny` ready, `broken` failed.
    static func loadedStore() -> ModelStore {
        ModelStore(
            entries: [
                .init(name: "broken", directory: TestCheckpoints.root + "/broken", status: .failed("no model.safetensors")),
                .init(name: "tiny", directory: TestCheckpoints.root + "/tiny", status: .ready(TestCheckpoints.tiny)),
            ], finished: true)
    }

    /// The router over `store` (default: loaded) without the loading service.
    static func app(
        store: ModelStore = loadedStore(), pool: ComputePool = ComputePool(maxQueued: 64),
        configuration: ServerConfiguration = configuration()
    ) -> some ApplicationProtocol {
        Application(router: buildRouter(configuration, store: store, pool: pool), logger: logger)
    }
}

extension TestResponse {
    /// The body parsed as a JSON object.
    var json: [String: Any] {
        get throws {
            let value = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
            guard let object = value as? [String: Any] else { throw TestFailure("body is not a JSON object: \(String(buffer: body))") }
            return object
        }
    }

    /// The `error` message of docs/api.md's error body, after checking its shape.
    var errorMessage: String {
        get throws {
            let object = try json
            #expect(object.count == 1, "an error body has exactly the key \"error\": \(object)")
            guard let message = object["error"] as? String else { throw TestFailure("no \"error\" in \(object)") }
            #expect(headers[.contentType]?.hasPrefix("application/json") == true)
            return message
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A multipart/form-data body with one file part per (filename, bytes), all named "data"
/// (what `curl -F data=@a.png -F data=@b.png` sends).
func multipartBody(_ files: [(String, [UInt8])], boundary: String = "nfserve-test-boundary") -> (HTTPFields, ByteBuffer) {
    var body: [UInt8] = []
    for (filename, bytes) in files {
        body += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"data\"; filename=\"\(filename)\"\r\nContent-Type: image/png\r\n\r\n".utf8)
        body += bytes
        body += Array("\r\n".utf8)
    }
    body += Array("--\(boundary)--\r\n".utf8)
    return ([.contentType: "multipart/form-data; boundary=\(boundary)"], ByteBuffer(bytes: body))
}
