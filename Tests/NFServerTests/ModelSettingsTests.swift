import Foundation
import Hummingbird
import HummingbirdTesting
import NFPipeline
import Testing

@testable import NFServer
@testable import NFServing

/// A model folder's `nfserve.json` (batching and scheduling), the flags over it, and what
/// `GET /models/{m}` reports of both and of the model's recent queue and pass times.
@Suite struct ModelSettingsTests {
    /// A copy of the tiny test checkpoint with `settings` as its nfserve.json.
    static func folder(settings: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(
                atPath: TestCheckpoints.root + "/tiny/" + file, toPath: folder.appendingPathComponent(file).path)
        }
        try Data(settings.utf8).write(to: folder.appendingPathComponent(ModelSettings.fileName))
        return folder.path
    }

    @Test func theFolderFileIsRead() throws {
        let directory = try Self.folder(settings: #"{"max_batch_size": 8, "max_batch_delay_ms": 2.5, "priority": -3, "latency_target_ms": 40}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try ModelPipeline.load(directory: directory, name: "tiny")
        #expect(
            model.settings
                == ModelSettings(maxBatchSize: 8, maxBatchDelay: .microseconds(2500), priority: -3, latencyTarget: .milliseconds(40)))
        // A recalibrated version keeps them.
        #expect(model.replacing(classifier: model.classifier).settings == model.settings)
        // None: every field unset.
        #expect(TestCheckpoints.tiny.settings == ModelSettings())
    }

    @Test(arguments: [
        (#"{"max_batch_size": 0}"#, "\"max_batch_size\" must be an integer from 1 to 64"),
        (#"{"max_batch_size": 8.5}"#, "\"max_batch_size\" must be an integer"),
        (#"{"priority": 5000}"#, "\"priority\" must be an integer from -1000 to 1000"),
        (#"{"latency_target_ms": -1}"#, "\"latency_target_ms\" must be a number of milliseconds"),
        (#"{"max_batch_delay_ms": "2"}"#, "\"max_batch_delay_ms\" must be a number"),
        (#"{"latency_target": 20}"#, "unknown field \"latency_target\""),
        (#"[1]"#, "not a JSON object"),
        (#"{"priority": 1"#, "not JSON"),
        ("", "not JSON"),
        (String(repeating: " ", count: 65537) + "{}", "65539 bytes; at most 65536"),
    ])
    func aBadFileFailsTheLoadSayingWhy(file: String, message: String) throws {
        let directory = try Self.folder(settings: file)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = #expect(throws: ModelSettingsError.self) { try ModelPipeline.load(directory: directory, name: "tiny") }
        #expect(error?.description.hasPrefix("nfserve.json: ") == true)
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func flagsOverrideTheFileWhichOverridesTheDefaults() throws {
        let directory = try Self.folder(settings: #"{"max_batch_size": 8, "priority": 2, "latency_target_ms": 40}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try ModelPipeline.load(directory: directory, name: "tiny")
        let defaults = BatchingConfiguration(defaultPolicy: BatchingPolicy(maxBatchSize: 16, maxDelay: .milliseconds(3)))
        // The file's size, the default's delay; its priority and target.
        #expect(defaults.policy(for: model) == BatchingPolicy(maxBatchSize: 8, maxDelay: .milliseconds(3)))
        #expect(defaults.scheduling(for: model) == ModelScheduling(priority: 2, latencyTarget: .milliseconds(40)))
        // Flags for the model win, field by field for scheduling.
        let flags = BatchingConfiguration(
            defaultPolicy: BatchingPolicy(maxBatchSize: 16), perModel: ["tiny": BatchingPolicy(maxBatchSize: 4)],
            scheduling: ["tiny": ModelSettings(priority: 7)])
        #expect(flags.policy(for: model) == BatchingPolicy(maxBatchSize: 4))
        #expect(flags.scheduling(for: model) == ModelScheduling(priority: 7, latencyTarget: .milliseconds(40)))
        // Another model's flags do not apply.
        let other = BatchingConfiguration(scheduling: ["other": ModelSettings(priority: 7)])
        #expect(other.scheduling(for: model).priority == 2)
    }

    @Test func modelsReportTheirServingAndRecentTimes() async throws {
        var configuration = TestServer.configuration()
        configuration.batching = BatchingConfiguration(
            defaultPolicy: BatchingPolicy(maxBatchSize: 16), perModel: ["tiny": BatchingPolicy(maxBatchSize: 4, maxDelay: .milliseconds(1))],
            scheduling: ["tiny": ModelSettings(priority: 3, latencyTarget: .milliseconds(25))])
        try await TestServer.app(configuration: configuration).test(.router) { client in
            var tiny = try await client.execute(uri: "/models/tiny", method: .get).json
            let serving = try #require(tiny["serving"] as? [String: Any])
            #expect(serving["max_batch_size"] as? Int == 4)
            #expect(serving["max_batch_delay_ms"] as? Double == 1)
            #expect(serving["priority"] as? Int == 3)
            #expect(serving["latency_target_ms"] as? Double == 25)
            var timing = try #require(tiny["timing"] as? [String: Any])
            #expect(timing["window"] as? Int == 1000)
            #expect(timing["queue_ms"] is NSNull && timing["pass_ms"] is NSNull, "no request yet: \(timing)")
            for _ in 0..<3 {
                let answer = try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
                #expect(answer.status == .ok)
            }
            tiny = try await client.execute(uri: "/models/tiny", method: .get).json
            timing = try #require(tiny["timing"] as? [String: Any])
            let queue = try #require(timing["queue_ms"] as? [String: Any])
            let pass = try #require(timing["pass_ms"] as? [String: Any])
            #expect(queue["count"] as? Int == 3)
            #expect(pass["count"] as? Int == 3)
            for times in [queue, pass] {
                let p50 = try #require(times["p50"] as? Double), p99 = try #require(times["p99"] as? Double)
                #expect(p50 >= 0 && p50 <= p99 && p99 < 60_000)
            }
            // The list has them too; a failed model has neither.
            let list = try #require(try await client.execute(uri: "/models", method: .get).json["models"] as? [[String: Any]])
            #expect(list.first { $0["name"] as? String == "tiny" }?["serving"] != nil)
            #expect(list.first { $0["name"] as? String == "broken" }?["serving"] == nil)
        }
    }
}

@Suite struct ModelTimingsTests {
    @Test func percentilesAreNearestRankOverTheLatestWindow() {
        let timings = ModelTimings(window: 100)
        // 1..200 ms: the window keeps 101..200.
        for i in 1...200 { timings.recordQueue(model: "m", .milliseconds(i)) }
        let queue = timings.summary(model: "m").queue
        #expect(queue?.count == 100)
        #expect(queue?.p50 == 150)
        #expect(queue?.p99 == 199)
        #expect(queue?.mean == 150.5)
        #expect(timings.summary(model: "m").pass == nil)
        #expect(timings.summary(model: "other").queue == nil)
    }
}
