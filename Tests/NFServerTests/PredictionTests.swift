import Foundation
import Hummingbird
import HummingbirdTesting
import NFImage
import NFRequestFormats
import NFTestSupport
import Testing

@testable import NFServer
@testable import NFServing

/// `/predictions/{model}` and `/predict`: the TorchServe forms of docs/api.md.
@Suite(.machineLoad(.shared)) struct PredictionTests {
    /// What the model answers for `image` through the same pipeline, outside HTTP.
    static func expectedProbabilities(_ image: [UInt8]) throws -> [Float] {
        let model = TestCheckpoints.tiny
        let logits = try model.logits(encodedImages: [UploadedImage(filename: nil, bytes: image)], maxPixels: 1 << 20)
        return model.topPredictions(logits: logits, k: 3)[0].sorted { $0.index < $1.index }.map(\.probability)
    }

    static func predictions(_ value: Any?) throws -> [(index: Int, label: String, probability: Double)] {
        guard let list = value as? [[String: Any]] else { throw TestFailure("predictions is not a list: \(String(describing: value))") }
        return try list.map { item in
            guard item.count == 3, let index = item["index"] as? Int, let label = item["label"] as? String,
                let probability = item["probability"] as? Double
            else { throw TestFailure("bad prediction \(item)") }
            return (index, label, probability)
        }
    }

    @Test func rawBodyAnswersThePredictionShape() async throws {
        let image = TestPNG.sample()
        let expected = try Self.expectedProbabilities(image)
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .post, body: ByteBuffer(bytes: image))
            #expect(response.status == .ok)
            let json = try response.json
            #expect(Set(json.keys) == ["model", "predictions"])
            #expect(json["model"] as? String == "tiny")
            let predictions = try Self.predictions(json["predictions"])
            #expect(predictions.count == 3, "topk defaults to 5, clamped to the 3 classes")
            #expect(predictions.map(\.probability) == predictions.map(\.probability).sorted(by: >), "best first")
            #expect(Set(predictions.map(\.index)) == [0, 1, 2])
            for prediction in predictions {
                #expect(prediction.label == TestCheckpoints.labels[prediction.index])
                #expect(abs(prediction.probability - Double(expected[prediction.index])) < 1e-6)
            }
            #expect(abs(predictions.map(\.probability).reduce(0, +) - 1) < 1e-5)
        }
    }

    @Test func putIsAcceptedLikeCurlT() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .ok)
            #expect(try Self.predictions(try response.json["predictions"]).count == 3)
        }
    }

    @Test(arguments: [("1", 1), ("2", 2), ("0", 1), ("-4", 1), ("99", 3)])
    func topkIsClamped(query: String, count: Int) async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(
                uri: "/predictions/tiny?topk=\(query)", method: .post,
                body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .ok)
            #expect(try Self.predictions(try response.json["predictions"]).count == count)
        }
    }

    @Test func nonIntegerTopkIs400() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(
                uri: "/predictions/tiny?topk=many", method: .post,
                body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.contains("topk"))
        }
    }

    @Test func multipartWithTwoFilesAnswersOneResultEachInOrder() async throws {
        let (a, b) = (TestPNG.sample(seed: 1), TestPNG.sample(width: 30, height: 18, seed: 5))
        let (expectedA, expectedB) = (try Self.expectedProbabilities(a), try Self.expectedProbabilities(b))
        let (headers, body) = multipartBody([("a.png", a), ("b.png", b)])
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny?topk=3", method: .post, headers: headers, body: body)
            #expect(response.status == .ok)
            let json = try response.json
            #expect(Set(json.keys) == ["model", "results"])
            let results = try #require(json["results"] as? [[String: Any]])
            #expect(results.map { $0["filename"] as? String } == ["a.png", "b.png"])
            for (result, expected) in zip(results, [expectedA, expectedB]) {
                for prediction in try Self.predictions(result["predictions"]) {
                    #expect(abs(prediction.probability - Double(expected[prediction.index])) < 1e-6)
                }
            }
        }
    }

    @Test func multipartWithOneFileAnswersTheSingleForm() async throws {
        let (headers, body) = multipartBody([("a.png", TestPNG.sample())])
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .post, headers: headers, body: body)
            #expect(response.status == .ok)
            #expect(Set(try response.json.keys) == ["model", "predictions"])
        }
    }

    @Test func predictChoosesTheOnlyReadyModelOrTheNamedOne() async throws {
        try await TestServer.app().test(.router) { client in
            // `broken` failed, so `tiny` is the only model that serves.
            let chosen = try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(chosen.status == .ok)
            #expect(try chosen.json["model"] as? String == "tiny")
            let named = try await client.execute(uri: "/predict?model=tiny&topk=1", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(try Self.predictions(try named.json["predictions"]).count == 1)
            // `curl -T` sends PUT: /predict takes it as /predictions does.
            let put = try await client.execute(uri: "/predict?model=tiny", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(put.status == .ok)
            let unknown = try await client.execute(uri: "/predict?model=nope", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(unknown.status == .notFound)
        }
    }

    @Test func predictWithSeveralReadyModelsAsksForOne() async throws {
        let store = ModelStore(
            entries: [
                .init(name: "a", directory: "", status: .ready(TestCheckpoints.tiny)),
                .init(name: "b", directory: "", status: .ready(TestCheckpoints.tiny)),
            ], finished: true)
        try await TestServer.app(store: store).test(.router) { client in
            let response = try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.contains("?model="))
        }
    }
}
