import Foundation
import GRPCCore
import Hummingbird
import HummingbirdTesting
import NFRequestFormats
import NFTestSupport
import Testing

@testable import NFGRPC
@testable import NFServer
@testable import NFServing

/// KServe's v2 `GRPCInferenceService` as `tritonclient.grpc` calls it (tools/peers/tritonclient_check.py
/// runs the real client): every answer compared with the HTTP JSON path of the same server, whose
/// outputs the timm parity tests tie to PyTorch. Hostile messages get their status code and the
/// server keeps serving.
@Suite(.machineLoad(.shared)) struct GRPCInferenceTests {
    /// A deterministic `[2, 1, 28, 28]` input in the range of normalized pixels.
    static let shape = [2, 1, 28, 28]
    static let input: [Float] = (0..<(2 * 28 * 28)).map { Float(($0 * 37) % 101) / 50 - 1 }

    static func rawBytes(_ values: [Float]) -> Data {
        var data = Data()
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func request(
        raw: Bool, outputs: [String] = ["probabilities"], shape: [Int] = shape, values: [Float] = input
    ) -> Inference_ModelInferRequest {
        .with {
            $0.modelName = GRPCTestServer.model
            $0.id = "grpc-1"
            $0.inputs = [
                .with { tensor in
                    tensor.name = "input"
                    tensor.datatype = "FP32"
                    tensor.shape = shape.map(Int64.init)
                    if !raw { tensor.contents.fp32Contents = values }
                }
            ]
            if raw { $0.rawInputContents = [rawBytes(values)] }
            $0.outputs = outputs.map { name in .with { $0.name = name } }
        }
    }

    /// The probabilities the HTTP JSON path answers for `input`.
    static func jsonProbabilities(_ server: GRPCTestServer) async throws -> [Float] {
        let body: [String: Any] = [
            "inputs": [["name": "input", "shape": shape, "datatype": "FP32", "data": input.map(Double.init)]],
            "outputs": [["name": "probabilities"]],
        ]
        let bytes = try JSONSerialization.data(withJSONObject: body)
        let app = Application(router: server.router, logger: GRPCTestServer.logger)
        return try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/v2/models/\(GRPCTestServer.model)/infer", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(bytes: bytes))
            #expect(response.status == .ok)
            let json = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
            let outputs = json?["outputs"] as? [[String: Any]]
            return (outputs?.first?["data"] as? [Double] ?? []).map(Float.init)
        }
    }

    static func expectClose(_ a: [Float], _ b: [Float], _ what: String) {
        #expect(a.count == b.count, "\(what): \(a.count) values against \(b.count)")
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "\(what): largest difference \(worst)")
    }

    @Test func healthAndMetadata() async throws {
        let server = GRPCTestServer()
        try await server.withClient { client, _ in
            #expect(try await client.serverLive(.init()).live)
            #expect(try await client.serverReady(.init()).ready)
            #expect(try await client.modelReady(.with { $0.name = GRPCTestServer.model }).ready)
            #expect(try await client.modelReady(.with { $0.name = "broken" }).ready == false)
            await #expect(throws: RPCError.self) { try await client.modelReady(.with { $0.name = "nope" }) }
            let metadata = try await client.serverMetadata(.init())
            #expect(metadata.name == "nfserve" && metadata.extensions.contains("binary_tensor_data"))
            let model = try await client.modelMetadata(.with { $0.name = GRPCTestServer.model })
            #expect(model.versions == ["1"])
            #expect(model.inputs.map(\.shape) == [[-1, 1, -1, -1]])
            #expect(model.outputs.map(\.name) == ["logits", "probabilities"])
            #expect(model.outputs.map(\.shape) == [[-1, 10], [-1, 10]])
            // Draining: readiness says no, as HTTP's /v2/health/ready does.
            server.lifecycle.beginDraining()
            #expect(try await client.serverReady(.init()).ready == false)
        }
    }

    @Test func rawAndTypedInferenceEqualTheJSONPath() async throws {
        let server = GRPCTestServer()
        let expected = try await Self.jsonProbabilities(server)
        #expect(expected.count == 20)
        try await server.withClient { client, _ in
            // tritonclient's default: raw_input_contents in, raw_output_contents out.
            let raw = try await client.modelInfer(Self.request(raw: true))
            #expect(raw.modelName == GRPCTestServer.model && raw.modelVersion == "1" && raw.id == "grpc-1")
            #expect(raw.outputs.map(\.name) == ["probabilities"] && raw.outputs[0].shape == [2, 10])
            #expect(raw.outputs[0].datatype == "FP32" && !raw.outputs[0].hasContents)
            #expect(raw.rawOutputContents.count == 1)
            Self.expectClose(Self.floats(raw.rawOutputContents[0]), expected, "raw")
            // Typed contents in, typed contents out.
            let typed = try await client.modelInfer(Self.request(raw: false))
            #expect(typed.rawOutputContents.isEmpty)
            Self.expectClose(typed.outputs[0].contents.fp32Contents, expected, "typed")
            // No outputs named: the logits, whose softmax is the probabilities.
            var unnamed = Self.request(raw: true)
            unnamed.outputs = []
            let logits = Self.floats(try await client.modelInfer(unnamed).rawOutputContents[0])
            let softmaxed = stride(from: 0, to: logits.count, by: 10).flatMap { start -> [Float] in
                let row = logits[start..<(start + 10)].map(Double.init)
                let top = row.max()!
                let sum = row.reduce(0) { $0 + exp($1 - top) }
                return row.map { Float(exp($0 - top) / sum) }
            }
            Self.expectClose(softmaxed, expected, "unnamed outputs (logits)")
        }
    }

    @Test func classificationAndEncodedImages() async throws {
        let server = GRPCTestServer()
        let png = try Data(contentsOf: GRPCTestServer.repository.appendingPathComponent("Tests/Fixtures/images/rgb8.png"))
        try await server.withClient { client, _ in
            func request(raw: Bool) -> Inference_ModelInferRequest {
                .with {
                    $0.modelName = GRPCTestServer.model
                    $0.inputs = [
                        .with { tensor in
                            tensor.name = "input"
                            tensor.datatype = "BYTES"
                            tensor.shape = [2]
                            if !raw { tensor.contents.bytesContents = [png, png] }
                        }
                    ]
                    if raw {
                        var bytes = Data()
                        for _ in 0..<2 {
                            withUnsafeBytes(of: UInt32(png.count).littleEndian) { bytes.append(contentsOf: $0) }
                            bytes.append(png)
                        }
                        $0.rawInputContents = [bytes]
                    }
                    $0.outputs = [
                        .with {
                            $0.name = "probabilities"
                            $0.parameters = ["classification": .with { $0.int64Param = 3 }]
                        }
                    ]
                }
            }
            let typed = try await client.modelInfer(request(raw: false))
            #expect(typed.outputs[0].datatype == "BYTES" && typed.outputs[0].shape == [2, 3])
            let strings = typed.outputs[0].contents.bytesContents.map { String(decoding: $0, as: UTF8.self) }
            #expect(strings.count == 6 && strings[0] == strings[3])
            #expect(strings[0].split(separator: ":").count == 3, "value:index:label, got \(strings[0])")
            let raw = try await client.modelInfer(request(raw: true))
            // BYTES raw: each element a 4-byte little-endian length and its bytes.
            var decoded: [String] = []
            let data = raw.rawOutputContents[0]
            var offset = data.startIndex
            while offset < data.endIndex {
                let length = Int(data[offset]) | Int(data[offset + 1]) << 8 | Int(data[offset + 2]) << 16 | Int(data[offset + 3]) << 24
                decoded.append(String(decoding: data[(offset + 4)..<(offset + 4 + length)], as: UTF8.self))
                offset += 4 + length
            }
            #expect(decoded == strings)
        }
    }

    /// Hostile messages, each answered with its code and a message that says what is wrong;
    /// a good call succeeds after every one.
    @Test func hostileMessagesGetTheirCodeAndTheServerKeepsServing() async throws {
        let server = GRPCTestServer(maxMessageBytes: 64 << 10)
        var cases: [(String, Inference_ModelInferRequest, RPCError.Code, String)] = [
            // This model takes any H and W down to 1x1 (global pooling): 2x2 is valid for it (and for
            // HTTP); 3 channels and 0x0 are not.
            (
                "a 3-channel input for a 1-channel model", Self.request(raw: true, shape: [1, 3, 2, 2], values: .init(repeating: 0, count: 12)),
                .invalidArgument, "must have shape"
            ),
            ("a 0x0 input", Self.request(raw: true, shape: [1, 1, 0, 0], values: []), .invalidArgument, "must have shape"),
            (
                "raw bytes that disagree with the shape", Self.request(raw: true, shape: [1, 1, 28, 28], values: [1, 2, 3]), .invalidArgument,
                "12 bytes"
            ),
            (
                "typed values that disagree with the shape", Self.request(raw: false, shape: [1, 1, 28, 28], values: [1, 2, 3]), .invalidArgument,
                "3 fp32"
            ),
            (
                "a shape whose size overflows", Self.request(raw: true, shape: [Int(Int64.max), 1, 1 << 40, 1 << 40], values: [1]), .invalidArgument,
                "more values than can be counted"
            ),
            ("a negative dimension", Self.request(raw: true, shape: [1, 1, -28, 28], values: [1]), .invalidArgument, "must have shape"),
            (
                "a batch over the limit", Self.request(raw: true, shape: [65, 1, 1, 1], values: .init(repeating: 0, count: 65)), .resourceExhausted,
                "at most 64"
            ),
            // 64 KiB is this server's limit: a message up to twice that is read and refused with
            // a message; a larger one is cut off by the transport while it arrives (below).
            (
                "a message over the limit", Self.request(raw: true, shape: [30, 1, 28, 28], values: .init(repeating: 0, count: 30 * 784)),
                .resourceExhausted, "limit of 65536 bytes"
            ),
            ("an unknown output", Self.request(raw: true, outputs: ["features"]), .invalidArgument, "unknown output"),
        ]
        var tooSmall = Self.request(raw: true, shape: [1, 1, 2, 2], values: [0, 0, 0, 0])
        tooSmall.modelName = "strict"
        cases.append(("a 2x2 input for a model that takes 8x8 and more", tooSmall, .invalidArgument, "at least 8"))
        var unknownModel = Self.request(raw: true)
        unknownModel.modelName = "nope"
        cases.append(("an unknown model", unknownModel, .notFound, "unknown model"))
        var unavailable = Self.request(raw: true)
        unavailable.modelName = "broken"
        cases.append(("a model that failed to load", unavailable, .unavailable, "broken"))
        var wrongVersion = Self.request(raw: true)
        wrongVersion.modelVersion = "7"
        cases.append(("a version the model does not have", wrongVersion, .notFound, "no version"))
        var twoRaw = Self.request(raw: true)
        twoRaw.rawInputContents.append(Data([1, 2, 3, 4]))
        cases.append(("more raw contents than inputs", twoRaw, .invalidArgument, "raw_input_contents has 2 entries"))
        var int8 = Self.request(raw: true)
        int8.inputs[0].datatype = "INT8"
        cases.append(("a datatype the model does not take", int8, .invalidArgument, "datatype"))
        var nan = Self.request(raw: false)
        nan.inputs[0].contents.fp32Contents[5] = .nan
        cases.append(("NaN in the values", nan, .invalidArgument, "not a finite"))
        var corrupt = Self.request(raw: false)
        corrupt.inputs[0] = .with {
            $0.name = "input"
            $0.datatype = "BYTES"
            $0.shape = [1]
            $0.contents.bytesContents = [Data("not an image".utf8)]
        }
        cases.append(("bytes that are not an image", corrupt, .invalidArgument, ""))
        try await server.withClient { client, _ in
            // Far over the limit: the transport resets the stream before it is buffered whole.
            await #expect(throws: RPCError.self) {
                try await client.modelInfer(Self.request(raw: true, shape: [100, 1, 28, 28], values: .init(repeating: 0, count: 100 * 784)))
            }
            for (what, request, code, reason) in cases {
                do {
                    _ = try await client.modelInfer(request)
                    Issue.record("\(what): answered, expected \(code)")
                } catch let error as RPCError {
                    #expect(error.code == code, "\(what): \(error)")
                    #expect(reason.isEmpty || error.message.contains(reason), "\(what): \(error.message)")
                }
                let good = try await client.modelInfer(Self.request(raw: true))
                #expect(good.rawOutputContents.first?.count == 2 * 10 * 4, "after \(what)")
            }
        }
        // Every call was counted, by method and code.
        let text = server.metrics.render(store: server.store, live: server.inference.live)
        #expect(
            text.contains(#"nfserve_grpc_requests_total{method="ModelInfer",code="ok"}"#)
                || text.contains(#"nfserve_grpc_requests_total{code="ok",method="ModelInfer"}"#), "\(text.prefix(2000))")
        #expect(text.contains("invalidArgument"))
    }

    @Test func repositoryRPCsNeedTheAdminToken() async throws {
        try await GRPCTestServer().withClient { client, _ in
            await #expect { try await client.repositoryIndex(.init()) } throws: { ($0 as? RPCError)?.code == .permissionDenied }
        }
        try await GRPCTestServer(adminToken: "s3cret").withClient { client, _ in
            await #expect { try await client.repositoryIndex(.init()) } throws: { ($0 as? RPCError)?.code == .unauthenticated }
            await #expect {
                try await client.repositoryIndex(.init(), metadata: ["authorization": "Bearer wrong"])
            } throws: { ($0 as? RPCError)?.code == .unauthenticated }
            let index = try await client.repositoryIndex(.init(), metadata: ["authorization": "Bearer s3cret"])
            #expect(index.models.map(\.name).sorted() == ["broken", GRPCTestServer.model, "strict"])
            #expect(index.models.first { $0.name == "broken" }?.state == "UNAVAILABLE")
            let ready = try await client.repositoryIndex(.with { $0.ready = true }, metadata: ["authorization": "Bearer s3cret"])
            #expect(ready.models.map(\.name).sorted() == [GRPCTestServer.model, "strict"])
            _ = try await client.repositoryModelUnload(.with { $0.modelName = GRPCTestServer.model }, metadata: ["authorization": "Bearer s3cret"])
            await #expect {
                try await client.modelInfer(Self.request(raw: true))
            } throws: { ($0 as? RPCError)?.code == .unavailable }
        }
    }

    /// Shutdown: the listener sends GOAWAY; a call on a new connection is refused with UNAVAILABLE.
    @Test func gracefulShutdownRefusesNewCalls() async throws {
        let server = GRPCTestServer()
        let port = try await server.withClient { client, group in
            _ = try await client.modelInfer(Self.request(raw: true))
            let port = try await server.front.listeningPort
            await group.triggerGracefulShutdown()
            return port
        }
        try await withGRPCClient(
            transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        ) { client in
            let service = Inference_GRPCInferenceService.Client(wrapping: client)
            await #expect { try await service.serverLive(.init()) } throws: { ($0 as? RPCError)?.code == .unavailable }
        }
    }
}
