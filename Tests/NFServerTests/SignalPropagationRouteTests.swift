import Foundation
import Hummingbird
import HummingbirdTesting
import NFDiagnostics
import NFTestSupport
import Testing

@testable import NFServer

/// `GET` and `POST /diagnostics/spp` over HTTP: the shapes docs/api.md and issue 9 give, the limits,
/// and that the server answers what the library computes (the numbers themselves are checked
/// against PyTorch in NFDiagnosticsTests).
@Suite(.machineLoad(.shared)) struct SignalPropagationRouteTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func servedModelAnswersOnePointPerBlockInNetworkOrder() async throws {
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/diagnostics/spp?model=tiny&batch=3&seed=5", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            let json = try response.json
            #expect(json["model"] as? String == "tiny")
            #expect(json["at_init"] as? Bool == false)
            let input = try #require(json["input"] as? [String: Any])
            #expect(
                input["source"] as? String == "gaussian" && input["batch"] as? Int == 3 && input["seed"] as? Int == 5 && input["size"] as? Int == 16)
            #expect((json["block_output"] as? String)?.contains("before the ReLU") == true)
            let points = try #require(json["points"] as? [[String: Any]])
            #expect(
                points.map { $0["name"] as? String } == [
                    "stem", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1",
                ])
            #expect(points.map { $0["index"] as? Int } == Array(0...8))
            #expect(points[0]["stage"] is NSNull && points[0]["residual_var"] is NSNull)
            #expect(points[1]["stage"] as? Int == 0 && points[8]["stage"] as? Int == 3)
            #expect(points.allSatisfy { $0["expected_var"] == nil }, "a BatchNorm ResNet has no analytic variance")

            // The same numbers as the library on the same model and input.
            let direct = try SignalPropagation.measure(
                TestCheckpoints.tiny, input: SignalPropagationInput(batch: 3, seed: 5),
                openDataset: { throw TestFailure("no dataset: \($0)") })
            // (JSONSerialization may read the last bit differently from Swift's own parser.)
            let served = points.map { $0["avg_channel_var"] as? Double ?? .nan }
            #expect(zip(served, direct.points.map(\.averageChannelVariance)).allSatisfy { abs($0 - $1) <= 1e-14 * abs($1) })
        }
    }

    @Test func svgByQueryOrAcceptHeader() async throws {
        try await TestServer.app().test(.router) { client in
            for (uri, headers) in [
                ("/diagnostics/spp?model=tiny&format=svg", HTTPFields()),
                ("/diagnostics/spp?model=tiny", [.accept: "image/svg+xml"]),
            ] {
                let response = try await client.execute(uri: uri, method: .get, headers: headers)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/svg+xml; charset=utf-8")
                let svg = String(buffer: response.body)
                #expect(svg.hasPrefix("<svg") && svg.contains("Residual branch variance") && svg.contains("stage 4"))
            }
        }
    }

    @Test func designsAtInitializationOverlaid() async throws {
        let body = #"""
            {"architecture": [{"family": "preact_resnet", "order": "bn_relu_conv", "depths": [2, 1], "width": 1},
                              {"family": "nf_resnet", "alpha": 0.2, "weight_standardization": true, "depths": [2, 1], "width": 1}],
             "input": {"source": "gaussian", "batch": 2, "size": 32, "seed": 1}}
            """#
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/diagnostics/spp", method: .post, body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            let runs = try #require(try response.json["runs"] as? [[String: Any]])
            #expect(runs.map { $0["label"] as? String } == ["BN-ReLU-Conv", "NF-ResNet (WS)"])
            for run in runs {
                #expect(run["at_init"] as? Bool == true)
                let points = try #require(run["points"] as? [[String: Any]])
                #expect(points.map { $0["name"] as? String } == ["stem", "stages.0.0", "stages.0.1", "stages.1.0"])
            }
            let nf = try #require(runs[1]["points"] as? [[String: Any]])
            #expect(nf.map { $0["expected_var"] as? Double } == [1, 1.04, 1.08, 1.04])

            let svg = try await client.execute(uri: "/diagnostics/spp?format=svg", method: .post, body: ByteBuffer(string: body))
            #expect(svg.status == .ok)
            let text = String(buffer: svg.body)
            #expect(text.contains("BN-ReLU-Conv") && text.contains("NF-ResNet (WS) expected") && text.contains("stroke-dasharray"))
        }
    }

    @Test func registeredArchitectureAtInitSaysWhatItChanged() async throws {
        let body = #"{"model": "resnet18", "at_init": true, "input": {"batch": 1, "size": 32}}"#
        try await TestServer.app().test(.router) { client in
            let response = try await client.execute(uri: "/diagnostics/spp", method: .post, body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            let json = try response.json
            #expect(json["model"] as? String == "resnet18" && json["at_init"] as? Bool == true)
            let notes = (json["notes"] as? [String] ?? []).joined(separator: " ")
            #expect(notes.contains("set to 1") && notes.contains("batch's own statistics"))
            #expect((json["points"] as? [Any])?.count == 9)
        }
    }

    @Test func limitsAndMistakesAre400sSayingWhich() async throws {
        let cases: [(String, String?, String)] = [
            ("/diagnostics/spp?model=tiny&batch=17", nil, "maxBatch"),
            ("/diagnostics/spp?model=tiny&size=1024", nil, "maxSize"),
            // Sizes whose products overflow an Int (the memory estimate crashed the server on them).
            ("/diagnostics/spp?model=tiny&size=4000000000", nil, "maxSize"),
            ("/diagnostics/spp?model=tiny&batch=-3", nil, "maxBatch"),
            ("/diagnostics/spp", #"{"model": "tiny", "input": {"size": 9223372036854775807}}"#, "maxSize"),
            ("/diagnostics/spp?model=tiny&size=0", nil, "size must be"),
            ("/diagnostics/spp?model=tiny&input=noise", nil, "gaussian or dataset:NAME"),
            ("/diagnostics/spp?model=tiny&input=dataset:../etc", nil, "no dataset"),
            ("/diagnostics/spp?model=tiny&format=png", nil, "json or svg"),
            ("/diagnostics/spp?model=tiny&seed=-1", nil, "seed"),
            ("/diagnostics/spp", nil, "?model="),
            ("/diagnostics/spp", #"{"architecture": {"family": "preact_resnet", "depths": [101]}}"#, "maxBlocksPerStage"),
            ("/diagnostics/spp", #"{"architecture": {"family": "preact_resnet", "width": 9}}"#, "maxWidth"),
            (
                "/diagnostics/spp",
                #"{"architecture": {"family": "preact_resnet", "depths": [100, 100, 100, 100], "width": 8}, "input": {"batch": 16, "size": 256}}"#,
                "maxGigaFLOPs"
            ),
            ("/diagnostics/spp", #"{"architecture": {"family": "nf_resnet", "activation": "tanh"}}"#, "activation"),
            ("/diagnostics/spp", #"{"architecture": {"family": "nf_resnet", "order": "bn_relu_conv"}}"#, "preact_resnet"),
            ("/diagnostics/spp", #"{"architecture": {"family": "densenet"}}"#, "family"),
            ("/diagnostics/spp", #"{"model": "no_such_net", "at_init": true}"#, "registered"),
            (
                "/diagnostics/spp",
                #"[{"model": "resnet18", "at_init": true}, {"model": "resnet18", "at_init": true}, {"model": "resnet18", "at_init": true}, {"model": "resnet18", "at_init": true}, {"model": "resnet18", "at_init": true}]"#,
                "maxRuns"
            ),
            (
                "/diagnostics/spp", #"{"architecture": {"family": "nf_resnet"}, "input": {"source": "dataset", "dataset": "x"}}"#,
                "gaussian input only"
            ),
            ("/diagnostics/spp", "not json", "JSON"),
        ]
        try await TestServer.app().test(.router) { client in
            for (uri, body, expected) in cases {
                let response = try await client.execute(uri: uri, method: body == nil ? .get : .post, body: body.map { ByteBuffer(string: $0) })
                #expect(response.status == .badRequest, "\(uri) \(body ?? "")")
                let message = try response.errorMessage
                #expect(message.contains(expected), "\(uri) \(body ?? ""): \(message)")
            }
            let unknown = try await client.execute(uri: "/diagnostics/spp?model=nope", method: .get)
            #expect(unknown.status == .notFound)
            let broken = try await client.execute(uri: "/diagnostics/spp?model=broken", method: .get)
            #expect(broken.status == .serviceUnavailable)
        }
    }

    @Test func datasetInputIsPreprocessedAsForPrediction() async throws {
        let datasets = Self.repository.appendingPathComponent("datasets").path
        try await TestServer.app(configuration: TestServer.configuration(datasets: datasets)).test(.router) { client in
            let response = try await client.execute(uri: "/diagnostics/spp?model=tiny&input=dataset:fashion-mnist-sample&batch=4", method: .get)
            #expect(response.status == .ok)
            let input = try #require(try response.json["input"] as? [String: Any])
            #expect(input["source"] as? String == "dataset" && input["dataset"] as? String == "fashion-mnist-sample" && input["batch"] as? Int == 4)
            let size = try await client.execute(uri: "/diagnostics/spp?model=tiny&input=dataset:fashion-mnist-sample&size=20", method: .get)
            #expect(size.status == .badRequest)
        }
    }
}
