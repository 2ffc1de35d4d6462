import Foundation
import Hummingbird
import HummingbirdTesting
import NFTestSupport
import Testing

@testable import NFServer
@testable import NFServing

/// Health, readiness, the model list, datasets, metrics and the page at `/`.
@Suite(.machineLoad(.shared)) struct ServerStateTests {
    @Test func beforeLoadingEverythingAnswers503ButLiveness() async throws {
        // A store that lists the folders but has not loaded them (no loading service runs).
        let store = ModelStore(checkpoints: TestCheckpoints.root, logger: TestServer.logger)
        try await TestServer.app(store: store).test(.router) { client in
            let live = try await client.execute(uri: "/v2/health/live", method: .get)
            #expect(live.status == .ok)
            #expect(try live.json["live"] as? Bool == true)
            let ready = try await client.execute(uri: "/v2/health/ready", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(try ready.json["ready"] as? Bool == false)
            let prediction = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(prediction.status == .serviceUnavailable)
            #expect(try prediction.errorMessage.contains("loading"))
            #expect(try await client.execute(uri: "/v2/models/tiny/ready", method: .get).status == .serviceUnavailable)
            let models = try #require(try await client.execute(uri: "/models", method: .get).json["models"] as? [[String: Any]])
            #expect(models.map { $0["status"] as? String } == ["loading", "loading"])
        }
    }

    /// The whole application: loading runs in the background and readiness follows it.
    @Test func readinessFollowsBackgroundLoading() async throws {
        let app = try await buildApplication(TestServer.configuration(), logger: TestServer.logger)
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/v2/health/live", method: .get).status == .ok)
            var ready = try await client.execute(uri: "/v2/health/ready", method: .get)
            let deadline = ContinuousClock.now + .seconds(60)
            while ready.status != .ok, ContinuousClock.now < deadline {
                #expect(ready.status == .serviceUnavailable)
                try await Task.sleep(for: .milliseconds(20))
                ready = try await client.execute(uri: "/v2/health/ready", method: .get)
            }
            #expect(ready.status == .ok)
            #expect(try ready.json["ready"] as? Bool == true)
            let models = try #require(try await client.execute(uri: "/models", method: .get).json["models"] as? [[String: Any]])
            #expect(models.map { $0["name"] as? String } == ["broken", "tiny"])
            #expect(models.map { $0["status"] as? String } == ["failed", "ready"])
            #expect((models[0]["error"] as? String)?.contains("no model.safetensors") == true, "the broken folder says why")
            let prediction = try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(prediction.status == .ok, "the good model serves beside the broken one")
        }
    }

    @Test func modelsDescribeTheLoadedNetwork() async throws {
        try await TestServer.app().test(.router) { client in
            let list = try #require(try await client.execute(uri: "/models", method: .get).json["models"] as? [[String: Any]])
            #expect(list.count == 2)
            let tiny = try await client.execute(uri: "/models/tiny", method: .get).json
            #expect(tiny["name"] as? String == "tiny")
            #expect(tiny["status"] as? String == "ready")
            #expect(tiny["architecture"] as? String == "resnet18")
            #expect(tiny["num_classes"] as? Int == 3)
            #expect(tiny["input_size"] as? [Int] == [1, 16, 16])
            #expect(tiny["normalization"] as? String == "batchnorm")
            #expect(tiny["parameters"] as? Int == TestCheckpoints.tiny.classifier.parameterCount)
            #expect((tiny["flops"] as? Int ?? 0) > 0)
            #expect(tiny["labels"] as? [String] == TestCheckpoints.labels)
            #expect(tiny["error"] == nil)
            let broken = try await client.execute(uri: "/models/broken", method: .get).json
            #expect(broken["status"] as? String == "failed")
            #expect(broken["architecture"] == nil)
            #expect((broken["error"] as? String)?.isEmpty == false)
        }
    }

    @Test func datasetsAreListedWithTheirLayout() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-datasets-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func write(_ path: String, _ bytes: [UInt8]) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let png = TestPNG.sample()
        for path in ["folders/cat/1.png", "folders/cat/2.PNG", "folders/dog/3.jpg", "folders/dog/notes.txt", "loose/a.png", "loose/b.png"] {
            try write(path, png)
        }
        // IDX: magic, count 5, 2 x 2 images; labels: magic, count 5.
        try write("digits/test-images-idx3-ubyte", [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2] + [UInt8](repeating: 0, count: 20))
        try write("digits/test-labels-idx1-ubyte", [0, 0, 8, 1, 0, 0, 0, 5, 0, 1, 2, 3, 4])
        try await TestServer.app(configuration: TestServer.configuration(datasets: root.path)).test(.router) { client in
            let all = try #require(try await client.execute(uri: "/datasets", method: .get).json["datasets"] as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: all.map { ($0["name"] as? String ?? "", $0) })
            #expect(byName["folders"]?["layout"] as? String == "imagefolder")
            #expect(byName["folders"]?["images"] as? Int == 3)
            #expect(byName["folders"]?["labelled"] as? Bool == true)
            #expect(byName["folders"]?["classes"] as? [String] == ["cat", "dog"])
            #expect(byName["loose"]?["layout"] as? String == "flat")
            #expect(byName["loose"]?["images"] as? Int == 2)
            #expect(byName["loose"]?["labelled"] as? Bool == false)
            #expect(byName["digits"]?["layout"] as? String == "idx")
            #expect(byName["digits"]?["images"] as? Int == 5)
            #expect(byName["digits"]?["labelled"] as? Bool == true)
        }
    }

    @Test func metricsCountRequests() async throws {
        try await TestServer.app().test(.router) { client in
            _ = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            _ = try await client.execute(uri: "/predictions/nope", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = String(buffer: response.body)
            #expect(text.contains(#"nfserve_http_requests_total{route="/predictions/{model}",method="POST",status="200"} 1"#), "\(text)")
            #expect(text.contains(#"nfserve_http_requests_total{route="/predictions/{model}",method="POST",status="404"} 1"#))
            #expect(text.contains("nfserve_http_request_duration_seconds_bucket"))
            #expect(text.contains(#"nfserve_inference_duration_seconds_count{model="tiny"} 1"#))
            #expect(text.contains(#"nfserve_queue_duration_seconds_count{model="tiny"} 1"#), "each request's wait for its pass")
            #expect(text.contains(#"nfserve_models{status="ready"} 1"#))
            #expect(text.contains(#"nfserve_models{status="failed"} 1"#))
            // Every served model's queue, empty once its request was answered.
            #expect(text.contains(#"nfserve_queue_depth{model="tiny"} 0"#), "\(text)")
        }
    }
}
