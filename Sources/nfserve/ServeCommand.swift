import ArgumentParser
import Foundation
import Logging
import NFServer

/// `nfserve serve`: the HTTP service of api.md.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve every checkpoint folder of --checkpoints over HTTP (TorchServe forms and the Open Inference Protocol v2).")

    @Option(help: "Address to listen on (0.0.0.0 for every interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Folder of checkpoint folders; each sub-folder is a model named after it.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets; each sub-folder is a dataset named after it.") var datasets = "./datasets"
    @Option(help: "Largest request body, in MiB (413 beyond).") var maxBodyMb = 20
    @Option(help: "Largest image, in pixels, checked from its header before decoding (422 beyond).") var maxPixels = 40_000_000
    @Option(help: "File holding the bearer token of the admin endpoints (else env NFSERVE_ADMIN_TOKEN; neither: admin endpoints disabled).")
    var adminTokenFile: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535") }
        guard maxBodyMb > 0 else { throw ValidationError("--max-body-mb must be positive") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \"\(logLevel)\"") }
    }

    func run() async throws {
        var logger = Logger(label: "nfserve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = ServerConfiguration(
            host: host, port: port, checkpoints: checkpoints, datasets: datasets,
            maxBodyBytes: maxBodyMb << 20, maxPixels: maxPixels, adminToken: try adminToken())
        try await NFServer.serve(configuration, logger: logger)
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
