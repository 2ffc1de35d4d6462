import Foundation
import Hummingbird
import HummingbirdTesting
import NFCheckpoint
import NFModels
import NFPipeline
import NFTestSupport
import Testing

@testable import NFServer
@testable import NFServing

/// Every parity fixture (tools/reference/make_parity_fixtures.py: timm 1.0.31 logits for seeded
/// weights and input) served as a model and queried through `POST /v2/models/{m}/infer` with
/// its FP32 input: the logits that come back equal timm's within 1e-3 of the logit scale, so the
/// serving path (JSON in and out, batching, the compute pool) adds no error.
@Suite(.machineLoad(.shared)) struct InferParityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity")

    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: root.appendingPathComponent($0).appendingPathComponent("config.json").path) }
            .sorted()
    }()

    /// One store with every fixture loaded the way the server loads a checkpoint folder.
    static let store: ModelStore = ModelStore(
        entries: cases.map { name in
            let dir = root.appendingPathComponent(name).path
            return .init(name: name, directory: dir, status: .ready(try! ModelPipeline.load(directory: dir)))
        }, finished: true)

    @Test func everyFamilyIsCovered() {
        #expect(Self.cases.count >= 31)
        #expect(Self.cases.contains("dm_nfnet_f0") && Self.cases.contains("xbn_p2_resnet50") && Self.cases.contains("resnet50d"))
    }

    @Test(arguments: cases)
    func inferAnswersTimmsLogits(_ name: String) async throws {
        let io = try SafeTensorsFile(path: Self.root.appendingPathComponent(name).appendingPathComponent("io.safetensors").path)
        let input = try io.floats("input"), expected = try io.floats("logits")
        let shape = io.info("input")!.shape
        let body = try OpenInferenceTests.body(
            [
                "id": name,
                "inputs": [["name": "input", "datatype": "FP32", "shape": shape, "data": input]],
                "outputs": [["name": "logits"]],
            ] as [String: Any])
        try await TestServer.app(store: Self.store).test(.router) { client in
            let response = try await client.execute(
                uri: "/v2/models/\(name)/infer", method: .post,
                headers: [.contentType: "application/json"], body: body)
            #expect(response.status == .ok)
            let json = try response.json
            let output = (json["outputs"] as? [[String: Any]])?.first
            #expect(json["id"] as? String == name)
            #expect(output?["shape"] as? [Int] == io.info("logits")!.shape)
            let logits = OpenInferenceTests.floats(output?["data"])
            try #require(logits.count == expected.count)
            let scale = max(1, expected.map(abs).max()!)
            let error = zip(logits, expected).map { abs($0 - $1) }.max()!
            #expect(error <= 1e-3 * scale, "\(name): max logit error \(error) at logit scale \(scale)")
        }
    }
}
