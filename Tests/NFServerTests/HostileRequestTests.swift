import Foundation
import Hummingbird
import HummingbirdTesting
import NFRequestFormats
import NFTensors
import NFTestSupport
import Testing

@testable import NFPipeline
@testable import NFServer
@testable import NFServing

/// Numbers from clients (issue 8): every hostile request below is a 4xx with a JSON reason,
/// and the server answers the next request. Each case is named after what it tries.
@Suite(.machineLoad(.shared)) struct HostileRequestTests {
    static func fp32(_ shape: String, _ data: String) -> String {
        #"{"inputs": [{"name": "input", "datatype": "FP32", "shape": \#(shape), "data": \#(data)}]}"#
    }

    @Test(arguments: [
        // The request that killed the server: shape.reduce(1, *) trapped on overflow.
        ("shape product overflows Int", fp32("[4611686018427387904, 1, 28, 28]", "[0]"), 400, "more values than can be counted"),
        ("height times width overflows", fp32("[1, 1, 4611686018427387904, 4611686018427387904]", "[0]"), 400, "more values than can be counted"),
        ("batch beyond the limit", fp32("[65, 1, 1, 1]", "[" + Array(repeating: "0", count: 65).joined(separator: ",") + "]"), 413, "at most 64"),
        (
            "side beyond the limit", fp32("[1, 1, 1, 5000]", "[" + Array(repeating: "0", count: 5000).joined(separator: ",") + "]"), 400,
            "at most 4096"
        ),
        ("negative dimension", fp32("[1, 1, -16, 16]", "[0]"), 400, "must have shape"),
        ("dimension beyond Int", fp32("[1, 1, 99999999999999999999, 16]", "[0]"), 400, "invalid JSON"),
        (
            "BYTES shape product overflows",
            #"{"inputs": [{"name": "input", "datatype": "BYTES", "shape": [4611686018427387904, 4], "data": ["AA=="]}]}"#, 400, "shape"
        ),
        (
            "more BYTES images than allowed",
            #"{"inputs": [{"name": "input", "datatype": "BYTES", "shape": [65], "data": [\#(Array(repeating: "\"AA==\"", count: 65).joined(separator: ","))]}]}"#,
            413, "at most 64"
        ),
        ("value beyond float32", fp32("[1, 1, 2, 2]", "[1e39, 0, 0, 0]"), 400, "not a finite float32"),
        ("negative value beyond float32", fp32("[1, 1, 2, 2]", "[0, -1e300, 0, 0]"), 400, "data[1]"),
        (
            "classification count beyond Int",
            #"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 2, 2], "data": [0, 0, 0, 0]}], "outputs": [{"name": "logits", "parameters": {"classification": 1e300}}]}"#,
            400, "positive integer"
        ),
    ])
    func hostileInferRequestIsAClientError(name: String, body: String, status: Int, reason: String) async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/v2/models/tiny/infer", method: .post, body: ByteBuffer(string: body))
            #expect(response.status.code == status, "\(name): \(String(buffer: response.body))")
            let message = try response.errorMessage
            #expect(message.contains(reason), "\(name): \(message)")
            let next = try await client.execute(
                uri: "/v2/models/tiny/infer", method: .post,
                body: ByteBuffer(string: Self.fp32("[1, 1, 16, 16]", OpenInferenceTests.zeros)))
            #expect(next.status == .ok, "\(name): the server keeps serving")
        }
    }

    /// Finite inputs that overflow float32 inside the network: 422, never NaN in a 500.
    @Test func inputThatOverflowsInsideTheNetworkIs422() async throws {
        let huge = "[" + Array(repeating: "3e38", count: 256).joined(separator: ",") + "]"
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(
                uri: "/v2/models/tiny/infer", method: .post, body: ByteBuffer(string: Self.fp32("[1, 1, 16, 16]", huge)))
            #expect(response.status == .unprocessableContent, "\(String(buffer: response.body))")
            #expect(try response.errorMessage.contains("not finite"))
        }
    }

    /// Every architecture served is fully convolutional with global pooling: any H and W it
    /// takes, square or not, gives the logits of the same tensor run directly.
    @Test func nonSquareInputIsAccepted() async throws {
        let values: [Float] = (0..<(2 * 64 * 48)).map { (index: Int) -> Float in Float((index * 13) % 29) / 14 - 1 }
        let expected = try TestCheckpoints.tiny.logits(input: Tensor(shape: [2, 1, 64, 48], storage: values))
        try await TestServer.app().test(.router) { client in
            let response = try await OpenInferenceTests.infer(
                client,
                [
                    "inputs": [["name": "input", "datatype": "FP32", "shape": [2, 1, 64, 48], "data": values]]
                ])
            #expect(response.status == .ok)
            let output = try #require((try response.json["outputs"] as? [[String: Any]])?.first)
            #expect(output["shape"] as? [Int] == [2, 3])
            // The server's pass is observed for the live estimation shift (BatchNorm unfolded),
            // this one is not: equal up to float rounding.
            let served = Tensor(shape: [2, 3], storage: OpenInferenceTests.floats(output["data"]))
            #expect(served.maxAbsDifference(expected) <= 1e-5)
        }
    }

    /// An input below the smallest size the network takes names the minimum.
    @Test func inputBelowTheMinimumSizeIs400NamingIt() async throws {
        let tiny = TestCheckpoints.tiny
        let strict = ModelPipeline(loaded: tiny.loaded, preprocessing: tiny.preprocessing, flops: tiny.flops, minimumInputSize: 8)
        let store = ModelStore(entries: [.init(name: "tiny", directory: TestCheckpoints.root + "/tiny", status: .ready(strict))], finished: true)
        try await TestServer.app(store: store).test(.router) { client in
            let response = try await client.execute(
                uri: "/v2/models/tiny/infer", method: .post,
                body: ByteBuffer(string: Self.fp32("[1, 1, 4, 8]", "[" + Array(repeating: "0", count: 32).joined(separator: ",") + "]")))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.contains("at least 8"))
        }
    }

    /// The smallest size found at load really is the smallest the network runs at.
    @Test func minimumInputSizeIsTheSmallestThatRuns() throws {
        let model = TestCheckpoints.tiny
        #expect(model.minimumInputSize >= 1)
        #expect((try? model.logits(input: Tensor(shape: [1, 1, model.minimumInputSize, model.minimumInputSize]))) != nil)
        if model.minimumInputSize > 1 {
            let below = model.minimumInputSize - 1
            #expect((try? model.logits(input: Tensor(shape: [1, 1, below, below]))) == nil)
        }
    }

    @Test(arguments: ["99999999999999999999", "-99999999999999999999", "1e3", "0x10"])
    func topkBeyondIntIs400(topk: String) async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny?topk=\(topk)", method: .post, body: ByteBuffer(bytes: TestPNG.sample()))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.contains("topk"))
        }
    }

    /// Should a non-finite value ever reach a response, it is spelled as a string, not an
    /// encoding failure (500) or invalid JSON.
    @Test func nonFiniteFloatsAreEncodedAsStrings() throws {
        let text = String(decoding: try JSONEncoder.api.encode([Float.nan, .infinity, -.infinity, 1]), as: UTF8.self)
        #expect(text == #"["NaN","Infinity","-Infinity",1]"#)
    }

    /// 200,000 nested arrays as an infer body: a 400 from the JSON decoder's depth limit, not a
    /// stack overflow.
    @Test func deeplyNestedJSONIs400() async throws {
        let depth = 200_000
        let body =
            #"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1], "data": "# + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + "}]}"
        try await TestServer.app(configuration: TestServer.configuration(maxBodyBytes: 1 << 20)).test(.router) { client in
            let response = try await client.execute(uri: "/v2/models/tiny/infer", method: .post, body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.contains("invalid JSON"))
        }
    }

    /// 5,000 multipart parts: 413 (at most 64 images a request), however small each part is.
    @Test func fiveThousandMultipartPartsAre413() async throws {
        let (headers, body) = multipartBody((0..<5000).map { ("p\($0).png", [UInt8(0)]) })
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/predictions/tiny", method: .post, headers: headers, body: body)
            #expect(response.status == .contentTooLarge)
            #expect(try response.errorMessage.contains("at most 64"))
        }
    }
}
