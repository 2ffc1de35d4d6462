// swift-tools-version:6.0
// nfserve: an HTTP inference and diagnostics service for CNN image classifiers.
//
// Layers depend one way (docs/architecture.md):
//   CNFDNNL (C shim over oneDNN)
//   NFTensors   tensors and kernels (plain reference kernels + oneDNN fast path)
//   NFCheckpoint safetensors + config.json (no ML dependency)
//   NFLayers    layers, weight loading, the forward-pass observer
//   NFModels    model families (timm resnet, ...), registry, checkpoint folders
//   NFImage     image decoding (libjpeg-turbo, libspng) and timm's eval preprocessing
//   NFDatasets  datasets (ImageFolder, flat, IDX)
//   NFPipeline  encoded images -> preprocessing -> logits for a checkpoint, and evaluation over a
//               dataset: shared by the server, predict, eval and the diagnostics
//   NFPlot      the one plotting module: every chart nfserve shows, as SVG
//   NFDiagnostics  statistics of activations: the shared per-channel moments, signal propagation
//               (served models and designs at initialization), their charts
//   NFServing   models in service: the repository, admission, dynamic batching, decoding lanes,
//               the compute thread, memory limits; its own error type (no HTTP)
//   NFRequestFormats  request bodies from clients (OIP v2 JSON and binary, gRPC's protobuf messages,
//               multipart) decoded and validated without a network stack, so that they can be fuzzed (Fuzz/)
//   NFOpenInference  the Open Inference Protocol's infer, metadata and index, shared by both fronts:
//               one place turns a decoded request into the pipeline's input and the outputs
//   NFServer    the HTTP front (Hummingbird): translates HTTP to NFServing and back; the only
//               target that imports the HTTP stack
//   NFGRPC      the gRPC front (grpc-swift 2): KServe's v2 GRPCInferenceService, translated the same way
//   nfserve     the executable (swift-argument-parser)
import PackageDescription

let package = Package(
    name: "nfserve",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nfserve", targets: ["nfserve"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "CNFDNNL",
            linkerSettings: [.linkedLibrary("dnnl")]
        ),
        .target(
            name: "CNFImageCodecs",
            linkerSettings: [.linkedLibrary("turbojpeg"), .linkedLibrary("spng"), .linkedLibrary("z")]
        ),
        .target(name: "NFTensors", dependencies: ["CNFDNNL"]),
        .target(name: "NFCheckpoint"),
        .target(name: "NFLayers", dependencies: ["NFTensors", "NFCheckpoint"]),
        .target(
            name: "NFModels",
            dependencies: ["NFLayers", "NFTensors", "NFCheckpoint"],
            resources: [.copy("Resources/imagenet1k_labels.txt")]
        ),
        .target(name: "NFImage", dependencies: ["CNFImageCodecs", "NFTensors"]),
        .target(name: "NFDatasets", dependencies: ["NFImage", "NFCheckpoint", "CNFImageCodecs"]),
        .target(name: "NFPipeline", dependencies: ["NFImage", "NFModels", "NFDatasets", "NFLayers", "NFCheckpoint", "NFTensors"]),
        .target(name: "NFPlot"),
        .target(name: "NFDiagnostics", dependencies: ["NFPipeline", "NFDatasets", "NFModels", "NFImage", "NFLayers", "NFTensors", "NFPlot"]),
        .target(
            name: "NFServing",
            dependencies: [
                "NFPipeline", "NFDiagnostics", "NFDatasets", "NFModels", "NFCheckpoint", "NFImage", "NFLayers", "NFTensors",
                .product(name: "Logging", package: "swift-log"),
                // CircularBuffer (the decoding lanes' and the schedule's queues), not the network.
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "NFRequestFormats",
            dependencies: [
                "NFTensors", "NFImage",
                .product(name: "NIOCore", package: "swift-nio"),
                // The messages of Protos/grpc_predict_v2.proto (Generated/, by tools/grpc/generate.sh).
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(
            name: "NFOpenInference",
            dependencies: ["NFServing", "NFRequestFormats", "NFPipeline", "NFModels", "NFTensors"]
        ),
        .target(
            name: "NFServer",
            dependencies: [
                "NFServing", "NFModels", "NFImage", "NFDatasets", "NFPipeline", "NFDiagnostics", "NFLayers",
                "NFTensors", "NFRequestFormats", "NFOpenInference",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The HTTP contract, served at /openapi.json: generated from docs/openapi.yaml by
            // tools/openapi-json.py (CI checks that it is current).
            resources: [.copy("Resources/openapi.json")]
        ),
        .target(
            name: "NFGRPC",
            dependencies: [
                "NFServing", "NFOpenInference", "NFRequestFormats", "NFPipeline", "NFImage",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "nfserve",
            dependencies: [
                "NFServer", "NFGRPC", "NFServing", "NFModels", "NFImage", "NFDatasets", "NFPipeline", "NFDiagnostics", "NFLayers",
                "NFCheckpoint", "NFTensors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fuzz targets, one per parser of untrusted bytes (docs/testing.md, "Fuzzing"): scripts/fuzz.sh builds
        // them with libFuzzer and AddressSanitizer; in a plain build each replays corpus files.
        .target(name: "NFFuzzSupport", path: "Fuzz/Support"),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["NFCheckpoint", "NFFuzzSupport"], path: "Fuzz/FuzzSafeTensors"),
        .executableTarget(
            name: "FuzzModelConfig", dependencies: ["NFModels", "NFLayers", "NFCheckpoint", "NFFuzzSupport"], path: "Fuzz/FuzzModelConfig"),
        .executableTarget(name: "FuzzInferenceRequest", dependencies: ["NFRequestFormats", "NFFuzzSupport"], path: "Fuzz/FuzzInferenceRequest"),
        .executableTarget(name: "FuzzBinaryInference", dependencies: ["NFRequestFormats", "NFFuzzSupport"], path: "Fuzz/FuzzBinaryInference"),
        .executableTarget(
            name: "FuzzModelInferRequest",
            dependencies: ["NFRequestFormats", "NFFuzzSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Fuzz/FuzzModelInferRequest"),
        .executableTarget(
            name: "FuzzMultipart",
            dependencies: [
                "NFRequestFormats", "NFFuzzSupport", .product(name: "NIOCore", package: "swift-nio"),
            ], path: "Fuzz/FuzzMultipart"),
        .executableTarget(name: "FuzzImage", dependencies: ["NFImage", "NFFuzzSupport"], path: "Fuzz/FuzzImage"),
        .executableTarget(name: "FuzzIDX", dependencies: ["NFDatasets", "NFFuzzSupport"], path: "Fuzz/FuzzIDX"),
        // Test-only: the trait that keeps machine-loading suites apart from live-server ones.
        .target(name: "NFTestSupport", path: "Tests/NFTestSupport"),
        .testTarget(name: "NFTensorsTests", dependencies: ["NFTensors"]),
        .testTarget(name: "NFCheckpointTests", dependencies: ["NFCheckpoint"]),
        .testTarget(
            name: "NFDiagnosticsTests",
            dependencies: [
                "NFTestSupport", "NFDiagnostics", "NFPipeline", "NFDatasets", "NFPlot", "NFModels", "NFLayers", "NFTensors", "NFCheckpoint",
            ]),
        .testTarget(name: "NFPlotTests", dependencies: ["NFPlot"]),
        .testTarget(name: "NFServingTests", dependencies: ["NFServing", "NFLayers"]),
        .testTarget(name: "NFPipelineTests", dependencies: ["NFPipeline", "NFDatasets", "NFModels", "NFTensors"]),
        .testTarget(name: "NFRequestFormatsTests", dependencies: ["NFRequestFormats", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "NFModelsTests", dependencies: ["NFModels", "NFLayers", "NFTensors", "NFCheckpoint", "NFDiagnostics"]),
        .testTarget(name: "NFImageTests", dependencies: ["NFImage", "NFTensors", "NFLayers"]),
        .testTarget(name: "NFDatasetsTests", dependencies: ["NFDatasets", "NFImage"]),
        .testTarget(
            name: "NFServerTests",
            dependencies: [
                "NFServer", "NFServing", "NFModels", "NFCheckpoint", "NFLayers", "NFTensors", "NFRequestFormats", "NFImage", "NFDiagnostics",
                "NFPipeline", "NFDatasets", "NFTestSupport", "NFOpenInference",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "NFGRPCTests",
            dependencies: [
                "NFGRPC", "NFServer", "NFServing", "NFRequestFormats", "NFOpenInference", "NFPipeline", "NFDiagnostics", "NFTestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
