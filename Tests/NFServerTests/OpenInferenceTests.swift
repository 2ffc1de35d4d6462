import Foundation
import Hummingbird
import HummingbirdTesting
import NFImage
import NFOpenInference
import NFRequestFormats
import NFTensors
import NFTestSupport
import Testing

@testable import NFServer
@testable import NFServing

/// The Open Inference Protocol v2 routes: metadata, readiness and `infer`.
@Suite(.machineLoad(.shared)) struct OpenInferenceTests {
    /// A deterministic `[2, 1, 16, 16]` input.
    static let input: [Float] = (0..<(2 * 256)).map { Float(($0 * 37) % 101) / 50 - 1 }

    static func body(_ object: Any) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    static func infer(_ client: some TestClientProtocol, _ request: Any, model: String = "tiny") async throws -> TestResponse {
        try await client.execute(
            uri: "/v2/models/\(model)/infer", method: .post,
            headers: [.contentType: "application/json"], body: try body(request))
    }

    static func floats(_ value: Any?) -> [Float] {
        (value as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue }
    }

    @Test func serverMetadata() async throws {
        try await TestServer.app().test(.router) { client in
            let json = try await client.execute(uri: "/v2", method: .get).json
            #expect(json["name"] as? String == "nfserve")
            #expect(json["version"] as? String == nfserveVersion)
            #expect((json["extensions"] as? [String])?.contains("classification") == true)
            #expect((json["extensions"] as? [String])?.contains("binary_tensor_data") == true)
        }
    }

    /// Triton's binary tensor data extension, as tritonclient sends it by default: the FP32 input
    /// as raw little-endian bytes after the JSON header, the outputs asked as binary; the logits
    /// equal the model's own for the same input, and the JSON form's.
    @Test func binaryTensorDataInAndOut() async throws {
        let header = try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "input", "datatype": "FP32", "shape": [2, 1, 16, 16], "parameters": ["binary_data_size": Self.input.count * 4]]],
            "outputs": [["name": "logits", "parameters": ["binary_data": true]], ["name": "probabilities"]],
        ])
        let raw = Self.input.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(
                uri: "/v2/models/tiny/infer", method: .post,
                headers: [.contentType: "application/octet-stream", .inferenceHeaderContentLength: String(header.count)],
                body: ByteBuffer(bytes: [UInt8](header) + raw))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/octet-stream")
            let length = try #require(response.headers[.inferenceHeaderContentLength].flatMap { Int($0) })
            let body = [UInt8](response.body.readableBytesView)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body[..<length])) as? [String: Any])
            let outputs = try #require(json["outputs"] as? [[String: Any]])
            #expect(outputs[0]["data"] == nil)
            #expect((outputs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int == 2 * 3 * 4)
            #expect(body.count == length + 2 * 3 * 4, "the binary logits follow the header, and nothing else")
            let logits = stride(from: length, to: body.count, by: 4).map { offset in
                Float(
                    bitPattern: UInt32(body[offset]) | UInt32(body[offset + 1]) << 8 | UInt32(body[offset + 2]) << 16 | UInt32(body[offset + 3]) << 24
                )
            }
            let expected = try TestCheckpoints.tiny.logits(input: Tensor(shape: [2, 1, 16, 16], storage: Self.input))
            #expect(Tensor(shape: [2, 3], storage: logits).maxAbsDifference(expected) <= 1e-5)
            #expect(Self.floats(outputs[1]["data"]).count == 6, "an output not asked binary stays JSON")

            let asJSON = try await Self.infer(
                client,
                [
                    "inputs": [["name": "input", "datatype": "FP32", "shape": [2, 1, 16, 16], "data": Self.input.map(Double.init)]]
                ]
            ).json
            let jsonLogits = Self.floats((asJSON["outputs"] as? [[String: Any]])?.first?["data"])
            // Within float rounding: a pass the live ESM observes runs BatchNorm unfolded.
            #expect(
                Tensor(shape: [2, 3], storage: jsonLogits).maxAbsDifference(Tensor(shape: [2, 3], storage: logits)) <= 1e-5,
                "the same logits as the JSON form")
        }
    }

    /// The size announced for a binary output is the length of the bytes sent after the header.
    @Test func binaryOutputSizesMatchTheirBytes() {
        for values in [OutputTensor.Values.numbers([1, -2.5, .pi]), .strings(["0.9:7:Sneaker", "0.01:5:Sandale \u{E9}t\u{E9}", ""])] {
            #expect(values.byteCount == values.bytes.count)
        }
        #expect(OutputTensor.Values.strings(["ab"]).bytes == [2, 0, 0, 0, 97, 98])
        #expect(OutputTensor.Values.numbers([1]).bytes == [0, 0, 0x80, 0x3F])
    }

    @Test func binaryDataWithoutItsHeaderIsAClear400() async throws {
        let header = #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,16,16],"parameters":{"binary_data_size":1024}}]}"#
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(
                uri: "/v2/models/tiny/infer", method: .post, headers: [.contentType: "application/octet-stream"],
                body: ByteBuffer(bytes: Array(header.utf8) + [UInt8](repeating: 0, count: 1024)))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.contains("Inference-Header-Content-Length"))
        }
    }

    @Test func modelListAndMetadata() async throws {
        try await TestServer.app().test(.router) { client in
            let list = try #require(try await client.execute(uri: "/v2/models", method: .get).json["models"] as? [[String: Any]])
            #expect(list.map { $0["name"] as? String } == ["broken", "tiny"])
            #expect(list.map { $0["state"] as? String } == ["UNAVAILABLE", "READY"])

            let metadata = try await client.execute(uri: "/v2/models/tiny", method: .get).json
            #expect(metadata["name"] as? String == "tiny")
            #expect(metadata["versions"] as? [String] == ["1"])
            let inputs = try #require(metadata["inputs"] as? [[String: Any]])
            #expect(inputs.count == 1)
            #expect(inputs[0]["name"] as? String == "input")
            #expect(inputs[0]["datatype"] as? String == "FP32")
            #expect(inputs[0]["shape"] as? [Int] == [-1, 1, -1, -1], "batch, height and width are free")
            let outputs = try #require(metadata["outputs"] as? [[String: Any]])
            #expect(outputs.map { $0["name"] as? String } == ["logits", "probabilities"])
            #expect(outputs.allSatisfy { $0["shape"] as? [Int] == [-1, 3] })

            let versioned = try await client.execute(uri: "/v2/models/tiny/versions/1", method: .get)
            #expect(versioned.status == .ok)
            #expect(try await client.execute(uri: "/v2/models/tiny/versions/2", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/v2/models/nope", method: .get).status == .notFound)
        }
    }

    @Test func modelReadiness() async throws {
        try await TestServer.app().test(.router) { client in
            let ready = try await client.execute(uri: "/v2/models/tiny/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(try ready.json["ready"] as? Bool == true)
            let failed = try await client.execute(uri: "/v2/models/broken/ready", method: .get)
            #expect(failed.status == .serviceUnavailable)
            #expect(try failed.json["ready"] as? Bool == false)
            #expect(try await client.execute(uri: "/v2/models/nope/ready", method: .get).status == .notFound)
        }
    }

    @Test func fp32FlatInputAnswersTheModelsLogits() async throws {
        let expected = try TestCheckpoints.tiny.classifier(Tensor(shape: [2, 1, 16, 16], storage: Self.input))
        try await TestServer.app().test(.router) { client in
            let response = try await Self.infer(
                client,
                [
                    "id": "request-7",
                    "inputs": [["name": "input", "datatype": "FP32", "shape": [2, 1, 16, 16], "data": Self.input]],
                ])
            #expect(response.status == .ok)
            let json = try response.json
            #expect(json["model_name"] as? String == "tiny")
            #expect(json["model_version"] as? String == "1")
            #expect(json["id"] as? String == "request-7")
            let outputs = try #require(json["outputs"] as? [[String: Any]])
            #expect(outputs.count == 1, "logits by default")
            #expect(outputs[0]["name"] as? String == "logits")
            #expect(outputs[0]["datatype"] as? String == "FP32")
            #expect(outputs[0]["shape"] as? [Int] == [2, 3])
            let logits = Self.floats(outputs[0]["data"])
            #expect(logits.count == 6)
            #expect(zip(logits, expected.storage).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        }
    }

    @Test func fp32NestedInputEqualsFlat() async throws {
        // [2][1][16][16] nested arrays of the same values.
        let nested = (0..<2).map { n in [(0..<16).map { y in Array(Self.input[(n * 256 + y * 16)..<(n * 256 + y * 16 + 16)]) }] }
        try await TestServer.app().test(.router) { client in
            let flat = try await Self.infer(
                client, ["inputs": [["name": "input", "datatype": "FP32", "shape": [2, 1, 16, 16], "data": Self.input]]])
            let nestedResponse = try await Self.infer(
                client, ["inputs": [["name": "input", "datatype": "FP32", "shape": [2, 1, 16, 16], "data": nested]]])
            #expect(nestedResponse.status == .ok)
            let a = Self.floats((try flat.json["outputs"] as? [[String: Any]])?.first?["data"])
            let b = Self.floats((try nestedResponse.json["outputs"] as? [[String: Any]])?.first?["data"])
            #expect(a.count == 6 && a == b)
            #expect(try nestedResponse.json["id"] == nil, "no id sent, none echoed")
        }
    }

    @Test func bytesInputIsPreprocessedLikePredictions() async throws {
        let images = [TestPNG.sample(seed: 2), TestPNG.sample(width: 40, height: 33, seed: 3)]
        let model = TestCheckpoints.tiny
        let expected = try model.logits(encodedImages: images.map { UploadedImage(filename: nil, bytes: $0) }, maxPixels: 1 << 20)
        try await TestServer.app().test(.router) { client in
            let response = try await Self.infer(
                client,
                [
                    "inputs": [["name": "input", "datatype": "BYTES", "shape": [2], "data": images.map { Data($0).base64EncodedString() }]],
                    "outputs": [["name": "logits"], ["name": "probabilities"]],
                ])
            #expect(response.status == .ok)
            let outputs = try #require(try response.json["outputs"] as? [[String: Any]])
            #expect(outputs.map { $0["name"] as? String } == ["logits", "probabilities"])
            let logits = Self.floats(outputs[0]["data"])
            #expect(zip(logits, expected.storage).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
            let probabilities = Self.floats(outputs[1]["data"])
            #expect(outputs[1]["shape"] as? [Int] == [2, 3])
            #expect(abs(probabilities[0..<3].reduce(0, +) - 1) < 1e-5 && abs(probabilities[3..<6].reduce(0, +) - 1) < 1e-5)
        }
    }

    @Test func classificationExtensionAnswersValueIndexLabelBestFirst() async throws {
        let input = Array(Self.input[0..<256])
        let probabilities = softmax(try TestCheckpoints.tiny.classifier(Tensor(shape: [1, 1, 16, 16], storage: input)))
        let best = probabilities.storage.indices.sorted { probabilities.storage[$0] > probabilities.storage[$1] }
        try await TestServer.app().test(.router) { client in
            let response = try await Self.infer(
                client,
                [
                    "inputs": [["name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": input]],
                    "outputs": [["name": "probabilities", "parameters": ["classification": 2]]],
                ])
            #expect(response.status == .ok)
            let output = try #require((try response.json["outputs"] as? [[String: Any]])?.first)
            #expect(output["datatype"] as? String == "BYTES")
            #expect(output["shape"] as? [Int] == [1, 2])
            let strings = try #require(output["data"] as? [String])
            #expect(strings.count == 2)
            for (rank, string) in strings.enumerated() {
                let parts = string.split(separator: ":")
                #expect(parts.count == 3)
                #expect(Int(parts[1]) == best[rank])
                #expect(String(parts[2]) == TestCheckpoints.labels[best[rank]])
                #expect(abs((Float(parts[0]) ?? -1) - probabilities.storage[best[rank]]) < 1e-6)
            }
        }
    }

    /// `[1, 1, 16, 16]` zeros, as JSON.
    static let zeros = "[" + Array(repeating: "0", count: 256).joined(separator: ",") + "]"

    @Test(arguments: [
        (#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 16, 16], "data": ZEROS}]}"#, "must have shape [N, 1, H, W]"),
        (#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": [1, 2, 3]}]}"#, "holds 256 values, but its data has 3"),
        (#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [0, 1, 16, 16], "data": []}]}"#, "N >= 1"),
        (#"{"inputs": [{"name": "input", "datatype": "INT8", "shape": [1, 1, 16, 16], "data": ZEROS}]}"#, "datatype \"INT8\""),
        (
            #"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": ZEROS}], "outputs": [{"name": "features"}]}"#,
            "unknown output \"features\""
        ),
        (
            #"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": ZEROS}], "outputs": [{"name": "logits", "parameters": {"classification": 0}}]}"#,
            "classification must be a positive integer"
        ),
        (#"{"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["not base64!"]}]}"#, "not valid base64"),
        (#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": ["a"]}]}"#, "holds strings"),
        (#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": [true]}]}"#, "invalid JSON"),
        (#"{"inputs": []}"#, "takes one input"),
        (#"{"outputs": []}"#, "missing field \"inputs\""),
    ])
    func badRequestsAre400WithAReason(request: String, reason: String) async throws {
        let body = request.replacingOccurrences(of: "ZEROS", with: Self.zeros)
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/v2/models/tiny/infer", method: .post, body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            let message = try response.errorMessage
            #expect(message.contains(reason), "\(message)")
        }
    }

    @Test func undecodableJSONIs400() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/v2/models/tiny/infer", method: .post, body: ByteBuffer(string: "{\"inputs\": ["))
            #expect(response.status == .badRequest)
            #expect(try response.errorMessage.hasPrefix("invalid JSON"))
        }
    }

    @Test func bytesInputWithACorruptImageIs400AndTheServerKeepsServing() async throws {
        let corrupt = Array(TestPNG.sample().dropLast(40))
        try await TestServer.app().test(.router) { client in
            let response = try await Self.infer(
                client,
                [
                    "inputs": [["name": "input", "datatype": "BYTES", "shape": [1], "data": [Data(corrupt).base64EncodedString()]]]
                ])
            #expect(response.status == .badRequest)
            _ = try response.errorMessage
            let next = try await Self.infer(
                client, ["inputs": [["name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": Array(Self.input[0..<256])]]])
            #expect(next.status == .ok)
        }
    }
}
