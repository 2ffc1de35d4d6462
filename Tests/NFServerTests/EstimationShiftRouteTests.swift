import Foundation
import Hummingbird
import HummingbirdTesting
import NFDatasets
import NFDiagnostics
import NFImage
import NFPipeline
import NFTestSupport
import Testing

@testable import NFServer
@testable import NFServing

/// `/diagnostics/esm` and the AdaBN admin actions over HTTP, on the shipped BatchNorm checkpoint
/// and the shipped 300-image sample (`datasets/fashion-mnist-sample`). The ESM numbers
/// themselves are held against PyTorch in NFDiagnosticsTests; here: live traffic gives what a
/// dataset pass over the same images gives, recalibration zeroes the shift and is undone
/// exactly, and a swap under load never mixes statistics.
@Suite(.serialized, .machineLoad(.shared)) struct EstimationShiftRouteTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let modelName = "fmnist-resnet-bn"
    static let model = try! ModelPipeline.load(directory: repository.appendingPathComponent("checkpoints/\(modelName)").path)
    static let token = "esm-test-token"
    static let auth: HTTPFields = [.authorization: "Bearer \(token)"]

    static func app(export: EstimationShiftExport = .channel) -> some ApplicationProtocol {
        let store = ModelStore(
            entries: [
                .init(
                    name: modelName, directory: repository.appendingPathComponent("checkpoints/\(modelName)").path,
                    status: .ready(model))
            ], finished: true)
        let configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, checkpoints: repository.appendingPathComponent("checkpoints").path,
            datasets: repository.appendingPathComponent("datasets").path, maxBodyBytes: 8 << 20,
            maxPixels: 1_000_000, adminToken: token, estimationShiftExport: export)
        return TestServer.app(store: store, configuration: configuration)
    }

    /// The sample's PNG files, in the dataset's order.
    static let samplePNGs: [(String, [UInt8])] = {
        let root = repository.appendingPathComponent("datasets/fashion-mnist-sample")
        let classes = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
        return classes.flatMap { folder in
            let dir = root.appendingPathComponent(folder)
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted().map { file in
                (file, [UInt8]((try? Data(contentsOf: dir.appendingPathComponent(file))) ?? Data()))
            }
        }
    }()

    static func layers(_ json: [String: Any]) throws -> [[String: Any]] {
        try #require(json["layers"] as? [[String: Any]])
    }

    static func relativeClose(_ a: Any?, _ b: Any?, _ tolerance: Double) -> Bool {
        switch (a, b) {
        case (is NSNull, is NSNull): return true
        case let (x as Double, y as Double): return abs(x - y) <= tolerance * max(abs(y), 1e-12)
        default: return false
        }
    }

    /// Each layer's ESM from `--esm-export channel`'s series, computed as the recording rules of
    /// deploy/prometheus/ do (here for one replica), and the number of series.
    static func exportedEstimationShift(_ metrics: String) throws -> (layers: [String: (Double, Double)], series: Int) {
        var values: [String: Double] = [:]
        var perChannel: [String: [String: [Int: Double]]] = [:]  // metric -> layer -> channel -> value
        var series = 0
        for line in metrics.split(separator: "\n") where line.hasPrefix("nfserve_esm_") {
            let name = String(line.prefix { $0 != "{" })
            let labels = line.drop { $0 != "{" }.dropFirst().prefix { $0 != "}" }
            var parsed: [String: String] = [:]
            for pair in labels.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                parsed[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            let value = try #require(Double(line.split(separator: " ").last ?? ""))
            let layer = try #require(parsed["layer"])
            series += 1
            if name == "nfserve_esm_values_total" {
                values[layer] = value
            } else {
                perChannel[name, default: [:]][layer, default: [:]][try #require(Int(parsed["channel"] ?? ""))] = value
            }
        }
        var layers: [String: (Double, Double)] = [:]
        for (layer, n) in values {
            let up = perChannel["nfserve_esm_deviation_up_total"]?[layer] ?? [:]
            let down = perChannel["nfserve_esm_deviation_down_total"]?[layer] ?? [:]
            let squares = perChannel["nfserve_esm_squared_deviation_total"]?[layer] ?? [:]
            let runningVar = perChannel["nfserve_esm_running_var"]?[layer] ?? [:]
            var meanSquares = 0.0, varSquares = 0.0
            for c in 0..<runningVar.count {
                let d = ((up[c] ?? .nan) - (down[c] ?? .nan)) / n
                let variance = (squares[c] ?? .nan) / n - d * d
                meanSquares += d * d
                varSquares += (runningVar[c]! - variance) * (runningVar[c]! - variance)
            }
            layers[layer] = (meanSquares.squareRoot(), varSquares.squareRoot())
        }
        return (layers, series)
    }

    /// `--esm-export layer` (the default): per BatchNorm, this replica's shift, as the live report
    /// gives it, and the values seen.
    @Test func layerExportIsTheLiveReport() async throws {
        try await Self.app(export: .layer).test(.router) { client in
            let (headers, body) = multipartBody(Array(Self.samplePNGs.prefix(64)))
            #expect(try await client.execute(uri: "/predictions/\(Self.modelName)", method: .post, headers: headers, body: body).status == .ok)
            var live: [String: Any] = [:]
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                live = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&source=live", method: .get).json
                if live["images"] as? Int == 64 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(live["images"] as? Int == 64)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(!metrics.contains("nfserve_esm_deviation_up_total"), "channel mode's sums are not exported in layer mode")
            let layers = try Self.layers(live).filter { $0["kind"] as? String == "batchnorm" }
            #expect(layers.count == 28)
            for layer in layers {
                let name = try #require(layer["name"] as? String)
                for statistic in ["esm_mean", "esm_var"] {
                    let line = try #require(
                        metrics.split(separator: "\n").first {
                            $0.hasPrefix("nfserve_live_esm_layer{model=\"\(Self.modelName)\",") && $0.contains("layer=\"\(name)\"")
                                && $0.contains("statistic=\"\(statistic)\"")
                        }, "\(name) \(statistic)")
                    let value = try #require(Double(line.split(separator: " ").last ?? ""))
                    #expect(Self.relativeClose(value, layer[statistic], 1e-12), "\(name) \(statistic)")
                }
            }
            #expect(metrics.contains(#"nfserve_esm_values_total{model="fmnist-resnet-bn","#))
        }
    }

    @Test func liveTrafficGivesTheDatasetsShift() async throws {
        #expect(Self.samplePNGs.count == 300)
        try await Self.app().test(.router) { client in
            // Nothing classified yet: zero images, every layer listed with null shift.
            let empty = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&source=live", method: .get)
            #expect(try empty.json["images"] as? Int == 0)
            #expect(try Self.layers(try empty.json).allSatisfy { $0["esm_mean"] is NSNull })

            for start in stride(from: 0, to: Self.samplePNGs.count, by: 64) {
                let (headers, body) = multipartBody(Array(Self.samplePNGs[start..<min(start + 64, Self.samplePNGs.count)]))
                let response = try await client.execute(uri: "/predictions/\(Self.modelName)", method: .post, headers: headers, body: body)
                #expect(response.status == .ok)
            }
            // The merges run off the response path: wait until all 300 images are in.
            // (A generous deadline: on a loaded 2-core machine the merges may trail by seconds.)
            var live: [String: Any] = [:]
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                live = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&source=live", method: .get).json
                if live["images"] as? Int == 300 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(live["images"] as? Int == 300 && live["scope"] as? String == "all" && live["statistics"] as? String == "checkpoint")
            let dataset = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&dataset=fashion-mnist-sample", method: .get).json
            #expect(dataset["images"] as? Int == 300 && dataset["source"] as? String == "dataset")
            let (a, b) = (try Self.layers(live), try Self.layers(dataset))
            #expect(a.count == 28 && a.count == b.count)
            for (x, y) in zip(a, b) {
                #expect(x["name"] as? String == y["name"] as? String)
                #expect(
                    Self.relativeClose(x["esm_mean"], y["esm_mean"], 1e-9) && Self.relativeClose(x["esm_var"], y["esm_var"], 1e-9), "\(x) vs \(y)")
            }
            // A recent window covers whole buckets of 100 images.
            let recent = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&source=live&window=100", method: .get).json
            #expect(recent["scope"] as? String == "recent" && (100...300).contains(recent["images"] as? Int ?? 0))

            // /metrics: per stage, mean and max over its BatchNorms.
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"nfserve_live_esm_images{model="fmnist-resnet-bn"} 300"#))
            // The gauge is the largest esm_var of the stage's BatchNorms in the live report.
            let line = try #require(
                metrics.split(separator: "\n").first {
                    $0.hasPrefix(#"nfserve_live_esm{model="fmnist-resnet-bn",group="layer3",statistic="esm_var",aggregate="max"} "#)
                })
            let gauge = try #require(Double(line.split(separator: " ").last ?? ""))
            let stage3 = try Self.layers(live).filter { ($0["name"] as? String)?.hasPrefix("layer3.") == true }.compactMap {
                $0["esm_var"] as? Double
            }
            #expect(!stage3.isEmpty && abs(gauge - stage3.max()!) <= 1e-9 * gauge)

            // --esm-export channel: the raw sums, from which each layer's ESM is the dataset's.
            let exported = try Self.exportedEstimationShift(metrics)
            #expect(exported.series == 4 * 3840 + 28, "4 series per BatchNorm channel, 1 per layer")
            #expect(!metrics.contains("nfserve_live_esm_layer"), "layer mode's gauges are not exported in channel mode")
            #expect(exported.layers.count == 28)
            for layer in b {
                let name = try #require(layer["name"] as? String)
                let (esmMean, esmVar) = try #require(exported.layers[name], "\(name) exported")
                #expect(Self.relativeClose(esmMean, layer["esm_mean"], 1e-9) && Self.relativeClose(esmVar, layer["esm_var"], 1e-9), "\(name)")
            }

            // Reset is an admin action.
            #expect(try await client.execute(uri: "/diagnostics/esm/reset?model=\(Self.modelName)", method: .post).status == .unauthorized)
            #expect(
                try await client.execute(uri: "/diagnostics/esm/reset?model=\(Self.modelName)", method: .post, headers: Self.auth).status
                    == .noContent)
            let reset = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&source=live", method: .get).json
            #expect(reset["images"] as? Int == 0)
        }
    }

    /// Live traffic against PyTorch: the first 2000 Fashion-MNIST test images, each sent as a
    /// PNG in multipart predictions to the BatchNorm and the XBNBlock model, give the ESM that
    /// tools/reference/make_esm_fixtures.py computed over the same images (Tests/Fixtures/esm/),
    /// every layer within 1e-4 relative, GroupNorms null in place.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")))
    func liveTrafficEqualsPyTorch() async throws {
        struct Fixture: Decodable {
            struct Model: Decodable { var layers: [EstimationShiftLayer] }
            var images: Int
            var models: [String: Model]
        }
        let fixture = try JSONDecoder().decode(
            Fixture.self, from: Data(contentsOf: Self.repository.appendingPathComponent("Tests/Fixtures/esm/fashion_mnist_test.json")))
        let dataset = try DatasetCatalog(root: Self.repository.appendingPathComponent("datasets").path).open(name: "fashion-mnist-test")
        let pngs = try (0..<fixture.images).map { index -> (String, [UInt8]) in
            let image = try dataset.item(index, maxPixels: 1_000_000).image
            return ("\(index).png", TestPNG.encode(width: image.width, height: image.height) { x, y in [image.pixels[y * image.width + x]] })
        }
        let names = ["fmnist-resnet-bn", "fmnist-resnet-xbn"]
        let store = ModelStore(
            entries: try names.map { name in
                let directory = Self.repository.appendingPathComponent("checkpoints/\(name)").path
                return .init(name: name, directory: directory, status: .ready(try ModelPipeline.load(directory: directory)))
            }, finished: true)
        let configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, datasets: Self.repository.appendingPathComponent("datasets").path,
            maxBodyBytes: 8 << 20, maxPixels: 1_000_000)
        try await TestServer.app(store: store, configuration: configuration).test(.router) { client in
            for name in names {
                for start in stride(from: 0, to: pngs.count, by: 64) {
                    let (headers, body) = multipartBody(Array(pngs[start..<min(start + 64, pngs.count)]))
                    #expect(try await client.execute(uri: "/predictions/\(name)", method: .post, headers: headers, body: body).status == .ok)
                }
                // The merges run after the answers: wait for all of them (a generous deadline:
                // on a loaded 2-core machine they may trail by seconds).
                var live = EstimationShiftReport(model: name, source: "live", images: 0, statistics: "", layers: [])
                let deadline = ContinuousClock.now + .seconds(120)
                while live.images < fixture.images, ContinuousClock.now < deadline {
                    let response = try await client.execute(uri: "/diagnostics/esm?model=\(name)&source=live", method: .get)
                    live = try JSONDecoder().decode(EstimationShiftReport.self, from: Data(buffer: response.body))
                    if live.images < fixture.images { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(live.images == fixture.images)
                let reference = try #require(fixture.models[name]).layers
                #expect(live.layers.map(\.name) == reference.map(\.name) && live.layers.map(\.kind) == reference.map(\.kind))
                for (ours, theirs) in zip(live.layers, reference) {
                    for (x, y) in [(ours.esmMean, theirs.esmMean), (ours.esmVar, theirs.esmVar)] {
                        if let x, let y {
                            #expect(abs(x - y) <= 1e-4 * abs(y), "\(name) \(ours.name): \(x) vs PyTorch \(y)")
                        } else {
                            #expect(x == nil && y == nil)
                        }
                    }
                }
            }
        }
    }

    @Test func recalibrationZeroesTheShiftAndRestoreUndoesIt() async throws {
        try await Self.app().test(.router) { client in
            let uri = "/diagnostics/esm?model=\(Self.modelName)&dataset=fashion-mnist-sample"
            let first = try Self.layers(try await client.execute(uri: uri, method: .get).json)
            #expect(first.contains { ($0["esm_var"] as? Double ?? 0) > 1e-3 }, "a trained model has some shift on this sample")

            let refused = try await client.execute(uri: "/models/\(Self.modelName)/recalibrate?dataset=fashion-mnist-sample", method: .post)
            #expect(refused.status == .unauthorized)
            let response = try await client.execute(
                uri: "/models/\(Self.modelName)/recalibrate?dataset=fashion-mnist-sample", method: .post, headers: Self.auth)
            #expect(response.status == .ok)
            let json = try response.json
            #expect(json["statistics"] as? String == "recalibrated on dataset:fashion-mnist-sample (300 images)")
            #expect(json["images"] as? Int == 300 && json["top1_before"] is Double && json["top1_after"] is Double)
            for layer in try Self.layers(json) {
                #expect((layer["esm_mean_after"] as? Double ?? 1) < 1e-4 && (layer["esm_var_after"] as? Double ?? 1) < 1e-4, "\(layer)")
            }
            let summary = try await client.execute(uri: "/models/\(Self.modelName)", method: .get).json
            #expect(summary["batchnorm_statistics"] as? String == "recalibrated on dataset:fashion-mnist-sample (300 images)")

            let after = try Self.layers(try await client.execute(uri: uri, method: .get).json)
            #expect(after.allSatisfy { ($0["esm_mean"] as? Double ?? 1) < 1e-4 && ($0["esm_var"] as? Double ?? 1) < 1e-4 })

            let restore = try await client.execute(uri: "/models/\(Self.modelName)/restore", method: .post, headers: Self.auth)
            #expect(try restore.json["restored"] as? Bool == true && (try restore.json["statistics"] as? String) == "checkpoint")
            let restored = try Self.layers(try await client.execute(uri: uri, method: .get).json)
            #expect(restored.map { $0["esm_mean"] as? Double } == first.map { $0["esm_mean"] as? Double })
            #expect(restored.map { $0["esm_var"] as? Double } == first.map { $0["esm_var"] as? Double })
        }
    }

    /// Requests keep coming while the statistics are swapped back and forth: every answer is the
    /// checkpoint's logits or the recalibrated network's, never an error, never a mix. Up to
    /// rounding only: requests that arrive together share a pass, and a batch of another size may
    /// run other convolution kernels (Winograd F(2x2) or F(4x4)); the two networks' logits lie
    /// far further apart than that.
    @Test func swapUnderLoadNeverMixesStatistics() async throws {
        let input = try Self.model.input(encodedImages: [UploadedImage(filename: nil, bytes: Self.samplePNGs[0].1)], maxPixels: 1_000_000)
        let body = """
            {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [\(input.storage.map { "\($0)" }.joined(separator: ","))]}]}
            """
        try await Self.app().test(.router) { client in
            let logits: @Sendable () async throws -> [Double] = {
                let response = try await client.execute(uri: "/v2/models/\(Self.modelName)/infer", method: .post, body: ByteBuffer(string: body))
                #expect(response.status == .ok)
                let output = try #require((try response.json["outputs"] as? [[String: Any]])?.first)
                return try #require(output["data"] as? [Double])
            }
            let checkpoint = try await logits()
            let answers = try await withThrowingTaskGroup(of: [[Double]].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        var answers: [[Double]] = []
                        for _ in 0..<40 { answers.append(try await logits()) }
                        return answers
                    }
                }
                group.addTask {
                    for _ in 0..<3 {
                        let r = try await client.execute(
                            uri: "/models/\(Self.modelName)/recalibrate?dataset=fashion-mnist-sample&limit=64", method: .post, headers: Self.auth)
                        #expect(r.status == .ok)
                        _ = try await client.execute(uri: "/models/\(Self.modelName)/restore", method: .post, headers: Self.auth)
                    }
                    _ = try await client.execute(
                        uri: "/models/\(Self.modelName)/recalibrate?dataset=fashion-mnist-sample&limit=64", method: .post, headers: Self.auth)
                    return []
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let recalibrated = try await logits()
            func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }
            let rounding = 1e-5 * max(1, checkpoint.map(abs).max() ?? 0)
            #expect(distance(recalibrated, checkpoint) > 1000 * rounding)
            #expect(answers.count == 120)
            #expect(
                answers.allSatisfy { distance($0, checkpoint) <= rounding || distance($0, recalibrated) <= rounding },
                "a response from mixed statistics")
            #expect(answers.contains { distance($0, checkpoint) <= rounding })
        }
    }

    @Test func mistakesAreClear() async throws {
        try await Self.app().test(.router) { client in
            let cases: [(String, HTTPRequest.Method, HTTPResponse.Status, String)] = [
                ("/diagnostics/esm", .get, .badRequest, "?model="),
                ("/diagnostics/esm?model=\(Self.modelName)", .get, .badRequest, "?dataset=NAME"),
                ("/diagnostics/esm?model=\(Self.modelName)&dataset=../etc", .get, .badRequest, "no dataset"),
                ("/diagnostics/esm?model=\(Self.modelName)&source=live&window=0", .get, .badRequest, "window"),
                ("/diagnostics/esm?model=\(Self.modelName)&dataset=fashion-mnist-sample&limit=0", .get, .badRequest, "limit"),
                ("/diagnostics/esm?model=nope&source=live", .get, .notFound, "unknown model"),
                ("/models/\(Self.modelName)/recalibrate", .post, .badRequest, "?dataset=NAME or ?source=live"),
                (
                    "/diagnostics/esm?" + Array(repeating: "model=\(Self.modelName)", count: 5).joined(separator: "&") + "&source=live", .get,
                    .badRequest, "at most 4"
                ),
            ]
            for (uri, method, status, text) in cases {
                let response = try await client.execute(uri: uri, method: method, headers: method == .post ? Self.auth : [:])
                #expect(response.status == status, "\(uri)")
                #expect(try response.errorMessage.contains(text), "\(uri)")
            }
            let svg = try await client.execute(uri: "/diagnostics/esm?model=\(Self.modelName)&source=live&format=svg", method: .get)
            #expect(svg.headers[.contentType] == "image/svg+xml; charset=utf-8")
        }
    }
}
