import Foundation
import Glibc
import NFTestSupport
import Synchronization
import Testing

@testable import NFServer

/// SIGTERM into a burst of new connections, on fresh `nfserve serve` processes: every process
/// exits 0 without aborting, and every connection is answered, refused at connect, or reset
/// after the signal with nothing of it read by the server (the kernel queued it after the
/// listener closed: the server's count of dropped requests stays 0). Before `AcceptGate`,
/// connections accepted as the listener closed were dropped and some processes aborted in
/// `NIOAsyncWriter`'s deinit (swift-nio#2813).
///
/// `NFSERVE_BURST_RUNS` sets how many processes (10 by default); `NFSERVE_BINARY` the binary.
@Suite(.serialized, .machineLoad(.exclusive)) struct AcceptBurstTests {
    enum Outcome: Sendable, Hashable {
        case answered
        case refused
        /// Closed or reset with no byte of a response.
        case reset
        /// Anything else: a partial or unexpected response, a connect error other than refusal.
        case other(String)
    }

    /// One `GET /v2/health/live` on a connection of its own, `Connection: close`.
    static func liveRequest(port: Int) -> Outcome {
        let connection: RawHTTPConnection
        do {
            connection = try RawHTTPConnection(port: port)
        } catch let failure as RawHTTPConnection.SocketFailure {
            switch failure.errno {
            case ECONNREFUSED: return .refused
            case ECONNRESET: return .reset  // the handshake met the listener's close
            default: return .other("\(failure)")
            }
        } catch {
            return .other("\(error)")
        }
        do {
            try connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
        } catch let failure as RawHTTPConnection.SocketFailure where failure.errno == EPIPE || failure.errno == ECONNRESET {
            return .reset
        } catch {
            return .other("\(error)")
        }
        // Closed (end of stream or reset) with nothing read: reset unread.
        let (response, closed) = connection.readUntilClosed(timeout: .seconds(30))
        guard closed else { return .other("no end of response in 30 s") }
        if response.isEmpty { return .reset }
        let text = String(decoding: response, as: UTF8.self)
        return text.hasPrefix("HTTP/1.1 200 OK") && text.hasSuffix("{\"live\":true}") ? .answered : .other(String(text.prefix(80)))
    }

    final class Signalled: Sendable { let value = Atomic<Bool>(false) }

    struct Run: Sendable {
        var exitedCleanly: Bool
        var aborted: Bool
        var droppedReported: Int?
        var outcomes: [Outcome: Int]
        var resetsBeforeSignal: Int
        var log: String
    }

    /// One fresh server, a burst of `clients` connections-per-request, SIGTERM after 0.3-0.5 s.
    static func burstRun(binary: String, clients: Int, folder: URL) async throws -> Run {
        let port = try ShutdownTests.freePort()
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-burst-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: logURL) }
        let log = try FileHandle(forWritingTo: logURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--port", "\(port)", "--grpc-port", "0", "--checkpoints", folder.path, "--datasets", "/nonexistent",
            "--shutdown-delay", "0", "--shutdown-grace", "10", "--log-level", "notice",
        ]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let ready = ContinuousClock.now + .seconds(60)
        while try await onThread({ liveRequest(port: port) }) != .answered {
            guard ContinuousClock.now < ready, process.isRunning else { throw TestFailure("nfserve never answered") }
            try await Task.sleep(for: .milliseconds(20))
        }

        let signalled = Signalled()
        let workers = (0..<clients).map { _ in
            Task {
                try await onThread {
                    var outcomes: [Outcome: Int] = [:]
                    var resetsBeforeSignal = 0
                    let stop = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < stop {
                        let before = signalled.value.load(ordering: .acquiring)
                        let outcome = liveRequest(port: port)
                        outcomes[outcome, default: 0] += 1
                        if outcome == .reset, !before, !signalled.value.load(ordering: .acquiring) { resetsBeforeSignal += 1 }
                        if outcome == .refused { break }
                    }
                    return (outcomes, resetsBeforeSignal)
                }
            }
        }
        try await Task.sleep(for: .milliseconds(Int.random(in: 300...500)))
        signalled.value.store(true, ordering: .releasing)
        kill(process.processIdentifier, SIGTERM)
        let exit = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < exit { try await Task.sleep(for: .milliseconds(20)) }
        let exited = !process.isRunning
        var outcomes: [Outcome: Int] = [:]
        var resetsBeforeSignal = 0
        for worker in workers {
            let (counts, resets) = try await worker.value
            outcomes.merge(counts, uniquingKeysWith: +)
            resetsBeforeSignal += resets
        }
        try? log.close()
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        let dropped = text.range(of: #"requests dropped: (\d+)"#, options: .regularExpression).flatMap {
            Int(text[$0].split(separator: " ").last ?? "")
        }
        return Run(
            exitedCleanly: exited && process.terminationReason == .exit && process.terminationStatus == 0,
            aborted: text.contains("Fatal error") || (exited && process.terminationReason == .uncaughtSignal),
            droppedReported: dropped, outcomes: outcomes, resetsBeforeSignal: resetsBeforeSignal, log: text)
    }

    @Test func acceptBurstAtSigtermNeverAborts() async throws {
        let binary = ShutdownTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build nfserve first: \(binary)")
        let runs = Int(ProcessInfo.processInfo.environment["NFSERVE_BURST_RUNS"] ?? "") ?? 10
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-burst-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        var failures: [String] = []
        var aborted = 0
        var totals: [Outcome: Int] = [:]
        for index in 0..<runs {
            let run = try await Self.burstRun(binary: binary, clients: 16, folder: folder)
            totals.merge(run.outcomes, uniquingKeysWith: +)
            if run.aborted { aborted += 1 }
            let others = run.outcomes.filter { if case .other = $0.key { true } else { false } }
            var problems: [String] = []
            if !run.exitedCleanly { problems.append("did not exit 0") }
            if run.aborted { problems.append("aborted") }
            if run.droppedReported != 0 { problems.append("dropped count \(run.droppedReported.map(String.init) ?? "not logged")") }
            if !others.isEmpty { problems.append("unexpected outcomes \(others)") }
            if run.resetsBeforeSignal > 0 { problems.append("\(run.resetsBeforeSignal) resets before the signal") }
            if (run.outcomes[.answered] ?? 0) == 0 { problems.append("the burst answered nothing") }
            if !problems.isEmpty {
                failures.append("run \(index): \(problems.joined(separator: ", ")); log: \(run.log.suffix(600))")
            }
        }
        print(
            """
            acceptBurstAtSigtermNeverAborts: \(runs) processes, \(aborted) aborted, \(failures.count) failed; \
            answered \(totals[.answered] ?? 0), refused \(totals[.refused] ?? 0), reset unread \(totals[.reset] ?? 0), \
            other \(totals.filter { if case .other = $0.key { true } else { false } }.values.reduce(0, +))
            """)
        #expect(failures.isEmpty, "\(failures.count) of \(runs) processes failed:\n\(failures.prefix(5).joined(separator: "\n"))")
    }
}
