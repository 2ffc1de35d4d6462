import ArgumentParser
import Foundation
import Logging
import NFGRPC
import NFModels
import NFPipeline
import NFServer
import NFServing

/// `nfserve serve`: the HTTP service of docs/api.md.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Serve every checkpoint folder of --checkpoints, or the one of --model-dir, over HTTP (TorchServe forms and the Open Inference Protocol v2) and gRPC."
    )

    @Option(help: "Address to listen on (0.0.0.0 for every interface; default: env NFSERVE_HOST, else 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default: env NFSERVE_PORT, else 8080).") var port: Int?
    @Option(help: "Port of the gRPC listener (KServe v2 GRPCInferenceService; default: env NFSERVE_GRPC_PORT, else 8081; 0: none).")
    var grpcPort: Int?
    @Option(help: "Folder of checkpoint folders; each sub-folder is a model named after it (a checkpoint folder itself: that one model).")
    var checkpoints = "./checkpoints"
    @Option(
        help:
            "Serve this one checkpoint folder instead (KServe's /mnt/models), or hf:ORG/NAME[@REVISION] from the local Hugging Face cache ($HF_HOME/hub; nothing is downloaded)."
    )
    var modelDir: String?
    @Option(help: "The name the one model of --model-dir is served as (default: its folder's name; NAME for hf:ORG/NAME).")
    var modelName: String?
    @Option(help: "Folder of datasets; each sub-folder is a dataset named after it.") var datasets = "./datasets"
    @Option(help: "Largest request body, in MiB (413 beyond).") var maxBodyMb = 20
    @Option(help: "Largest image, in pixels, checked from its header before decoding (422 beyond).") var maxPixels = 40_000_000
    @Option(help: "File holding the bearer token of the admin endpoints (else env NFSERVE_ADMIN_TOKEN; neither: admin endpoints disabled).")
    var adminTokenFile: String?
    @Option(help: "Seconds a new connection has to send its request head.") var headerTimeout = 60.0
    @Option(help: "Seconds allowed between two reads of a request body.") var bodyTimeout = 60.0
    @Option(help: "Seconds an idle keep-alive connection stays open.") var keepaliveTimeout = 75.0
    @Option(help: "Open connections served; more are answered 503.") var maxConnections = 1024
    @Option(help: "Seconds readiness answers 503 after SIGTERM or SIGINT while new connections are still served (load balancers notice).")
    var shutdownDelay = 0.0
    @Option(help: "Seconds requests in flight then have to finish before the server stops anyway.") var shutdownGrace = 25.0
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @Option(name: .customLong("public"), help: "The dashboard's folder, served at / (default: Public next to the binary, else ./Public).")
    var publicDirectory: String?
    @Flag(
        inversion: .prefixedNo,
        help: "Feed every classified image's BatchNorm inputs to the model's live estimation shift (GET /diagnostics/esm?source=live, /metrics).")
    var liveEsm = true
    @Option(
        help:
            "Share of the time observed passes (BatchNorm unfolded, inputs reduced) and their merges may take (0-1]; predictions are sampled to keep within it. \"all\" observes every prediction."
    )
    var liveEsmBudget = "0.1"
    @Option(
        help:
            "What /metrics exports of the live BatchNorm sums: layer (this replica's ESM per layer), channel (raw per-channel sums Prometheus pools across replicas into the fleet's exact ESM; 4 series per BatchNorm channel) or off."
    )
    var esmExport = "layer"
    @Option(help: "Dynamic batching: most images in one forward pass (1 turns batching off).") var maxBatchSize = 32
    @Option(
        help:
            "Dynamic batching: milliseconds a request finding the compute pool idle waits for others to join it (counted from the oldest request's arrival; 0: a model whose passes take 10 ms or more still waits up to a tenth of its last pass for requests being decoded, and for as many images as that pass held while requests keep coming)."
    )
    var maxBatchDelayMs = 0.0
    @Option(help: "Batching for one model: NAME=SIZE or NAME=SIZE:DELAY_MS (repeatable; overrides the two above and the model's nfserve.json).")
    var modelBatching: [String] = []
    @Option(
        help:
            "A model's priority, NAME=N (repeatable; default 0, or its nfserve.json's): when models wait at once the higher goes first, and a model's passes never pause for one of lower priority."
    )
    var priority: [String] = []
    @Option(
        help:
            "A model's latency target, NAME=MS (repeatable; default 0, or its nfserve.json's): how long its requests may wait for another model's long pass to end before that pass lets them run between its steps."
    )
    var latencyTargetMs: [String] = []
    @Option(
        help:
            "The arithmetic of unobserved passes: int8 or fp32 for every model, or NAME=int8 for one (repeatable; overrides the model's nfserve.json). int8 needs the folder's calibration.json (`nfserve calibrate`); observed passes stay FP32."
    )
    var precision: [String] = []
    @Option(
        help:
            "Memory the server may use, in bytes or with a unit (1GiB, 512Mi); the byte budgets are sized from it (default: env NFSERVE_MEMORY_LIMIT, else the memory cgroup's limit, else the machine's memory)."
    )
    var memoryLimit: String?

    /// --memory-limit, else NFSERVE_MEMORY_LIMIT; nil leaves it to the cgroup or the machine.
    private func resolvedMemoryLimit() throws -> MemoryLimit? {
        let (text, source) =
            memoryLimit.map { ($0, "--memory-limit") }
            ?? ProcessInfo.processInfo.environment["NFSERVE_MEMORY_LIMIT"].map { ($0, "NFSERVE_MEMORY_LIMIT") } ?? (nil, "")
        guard let text else { return nil }
        guard let bytes = MemoryLimit.parse(text), bytes >= 64 << 20 else {
            throw ValidationError("\(source) must be at least 64 MiB, in bytes or with a unit (1GiB, 512MiB), got \"\(text)\"")
        }
        return MemoryLimit(bytes: bytes, source: source)
    }

    /// --port, else NFSERVE_PORT (the Docker image's HEALTHCHECK reads the same variable), else 8080.
    private func resolvedPort() throws -> Int {
        if let port { return port }
        guard let text = ProcessInfo.processInfo.environment["NFSERVE_PORT"] else { return 8080 }
        guard let value = Int(text) else { throw ValidationError("NFSERVE_PORT must be a port number, got \"\(text)\"") }
        return value
    }

    /// --grpc-port, else NFSERVE_GRPC_PORT, else 8081; 0 turns the gRPC listener off.
    private func resolvedGRPCPort() throws -> Int {
        if let grpcPort { return grpcPort }
        guard let text = ProcessInfo.processInfo.environment["NFSERVE_GRPC_PORT"] else { return 8081 }
        guard let value = Int(text) else { throw ValidationError("NFSERVE_GRPC_PORT must be a port number, got \"\(text)\"") }
        return value
    }

    private var resolvedHost: String {
        host ?? ProcessInfo.processInfo.environment["NFSERVE_HOST"] ?? "127.0.0.1"
    }

    func validate() throws {
        guard (1...65535).contains(try resolvedPort()) else { throw ValidationError("the port must be in 1...65535") }
        guard (0...65535).contains(try resolvedGRPCPort()) else { throw ValidationError("the gRPC port must be in 0...65535 (0: no gRPC)") }
        guard try resolvedGRPCPort() != (try resolvedPort()) else { throw ValidationError("--grpc-port must differ from --port") }
        for (name, seconds) in [
            ("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout),
            ("--keepalive-timeout", keepaliveTimeout), ("--shutdown-grace", shutdownGrace),
        ] {
            guard seconds > 0, seconds <= 86_400 else { throw ValidationError("\(name) must be between 0 and 86400 seconds") }
        }
        guard shutdownDelay >= 0, shutdownDelay <= 3600 else { throw ValidationError("--shutdown-delay must be between 0 and 3600 seconds") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        _ = try resolvedMemoryLimit()
        guard maxBodyMb > 0, maxBodyMb <= 1 << 20 else { throw ValidationError("--max-body-mb must be between 1 and 1048576") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \"\(logLevel)\"") }
        _ = try batching()
        _ = try liveBudget()
        _ = try models()
        _ = try estimationShiftExport()
    }

    private func estimationShiftExport() throws -> EstimationShiftExport {
        guard let export = EstimationShiftExport(rawValue: esmExport) else {
            throw ValidationError("--esm-export must be off, layer or channel, got \"\(esmExport)\"")
        }
        return export
    }

    /// --model-dir / --model-name / --checkpoints, resolved; a path that does not exist stops the start.
    private func models() throws -> ModelSource {
        do {
            return try ModelSource.resolve(checkpoints: checkpoints, modelDir: modelDir, modelName: modelName)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// --live-esm-budget: a share in (0, 1], or "all" (nil: every prediction observed).
    private func liveBudget() throws -> Double? {
        if liveEsmBudget == "all" { return nil }
        guard let share = Double(liveEsmBudget), share > 0, share <= 1 else {
            throw ValidationError("--live-esm-budget must be a share of the time in (0, 1], or \"all\"")
        }
        return share
    }

    /// --max-batch-size, --max-batch-delay-ms and each --model-batching NAME=SIZE[:DELAY_MS].
    private func batching() throws -> BatchingConfiguration {
        func policy(_ size: Int, _ delayMs: Double, _ flag: String) throws -> BatchingPolicy {
            guard (1...BatchingPolicy.largestBatch).contains(size) else {
                throw ValidationError("\(flag): the batch size must be between 1 and \(BatchingPolicy.largestBatch)")
            }
            guard delayMs >= 0, delayMs <= 1000 else { throw ValidationError("\(flag): the delay must be between 0 and 1000 ms") }
            return BatchingPolicy(maxBatchSize: size, maxDelay: .microseconds(Int64((delayMs * 1000).rounded())))
        }
        var configuration = BatchingConfiguration(defaultPolicy: try policy(maxBatchSize, maxBatchDelayMs, "--max-batch-size"))
        for entry in modelBatching {
            let parts = entry.split(separator: "=", maxSplits: 1)
            let values = parts.count == 2 ? parts[1].split(separator: ":") : []
            guard parts.count == 2, !parts[0].isEmpty, (1...2).contains(values.count), let size = Int(values[0]),
                let delay = values.count == 2 ? Double(values[1]) : maxBatchDelayMs
            else {
                throw ValidationError("--model-batching expects NAME=SIZE or NAME=SIZE:DELAY_MS, got \"\(entry)\"")
            }
            configuration.perModel[String(parts[0])] = try policy(size, delay, "--model-batching \(parts[0])")
        }
        func named(_ entry: String, _ flag: String) throws -> (String, Double) {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, let value = Double(parts[1]) else {
                throw ValidationError("\(flag) expects NAME=NUMBER, got \"\(entry)\"")
            }
            return (String(parts[0]), value)
        }
        for entry in priority {
            let (name, value) = try named(entry, "--priority")
            guard let level = Int(exactly: value), ModelSettings.priorities.contains(level) else {
                throw ValidationError(
                    "--priority \(name): an integer from \(ModelSettings.priorities.lowerBound) to \(ModelSettings.priorities.upperBound)")
            }
            configuration.scheduling[name, default: ModelSettings()].priority = level
        }
        for entry in latencyTargetMs {
            let (name, value) = try named(entry, "--latency-target-ms")
            guard ModelSettings.latencyTargetsMs.contains(value) else {
                throw ValidationError("--latency-target-ms \(name): milliseconds from 0 to \(Int(ModelSettings.latencyTargetsMs.upperBound))")
            }
            configuration.scheduling[name, default: ModelSettings()].latencyTarget = .microseconds(Int64((value * 1000).rounded()))
        }
        return configuration
    }

    func precisions() throws -> ModelPrecisions {
        var result = ModelPrecisions()
        for entry in precision {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard let value = Precision(rawValue: parts.last ?? ""), parts.count == 1 || !parts[0].isEmpty else {
                throw ValidationError(
                    "--precision expects \(Precision.allCases.map(\.rawValue).joined(separator: "|")) or NAME=PRECISION, got \"\(entry)\"")
            }
            if parts.count == 2 { result.perModel[parts[0]] = value } else { result.all = value }
        }
        return result
    }

    func run() async throws {
        var logger = Logger(label: "nfserve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let limits = ConnectionLimits(
            headerTimeout: .seconds(headerTimeout), bodyTimeout: .seconds(bodyTimeout),
            keepAliveTimeout: .seconds(keepaliveTimeout), maxConnections: maxConnections)
        var configuration = ServerConfiguration(
            host: resolvedHost, port: try resolvedPort(), models: try models(), datasets: datasets,
            maxBodyBytes: maxBodyMb << 20, maxPixels: maxPixels, adminToken: try adminToken(),
            connectionLimits: limits, shutdownGrace: .seconds(shutdownGrace), shutdownDelay: .seconds(shutdownDelay),
            liveEstimationShift: liveEsm, liveEstimationShiftBudget: try liveBudget(),
            estimationShiftExport: try estimationShiftExport(), publicDirectory: try PublicFolder.resolve(publicDirectory),
            batching: try batching(), memoryLimit: try resolvedMemoryLimit())
        configuration.precisions = try precisions()
        let grpcPort = try resolvedGRPCPort()
        try await NFServer.serve(configuration, logger: logger) { components in
            guard grpcPort != 0 else { return [] }
            let grpc = GRPCConfiguration(
                host: configuration.host, port: grpcPort, maxMessageBytes: configuration.maxBodyBytes,
                maxIdleTime: configuration.connectionLimits.keepAliveTimeout, adminToken: configuration.adminToken)
            return [
                GRPCFront(
                    grpc, store: components.store, loader: components.loader, openInference: components.openInference,
                    lifecycle: components.lifecycle, metrics: components.metrics, logger: components.logger)
            ]
        }
    }

    /// The token from --admin-token-file, else NFSERVE_ADMIN_TOKEN; surrounding whitespace (the
    /// file's final newline) is not part of it.
    private func adminToken() throws -> String? {
        let raw: String?
        if let adminTokenFile {
            do {
                raw = try String(contentsOfFile: adminTokenFile, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read --admin-token-file \(adminTokenFile): \(error.localizedDescription)")
            }
        } else {
            raw = ProcessInfo.processInfo.environment["NFSERVE_ADMIN_TOKEN"]
        }
        let token = raw?.trimmingCharacters(in: .whitespacesAndNewlines)
        return token?.isEmpty == false ? token : nil
    }
}
