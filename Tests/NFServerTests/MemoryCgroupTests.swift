import Foundation
import Glibc
import NFTestSupport
import Testing

@testable import NFServer

/// The real server in a memory cgroup of 1 GiB that the test makes (cgroup v2 or v1, as root),
/// as a Kubernetes pod with `limits.memory: 1Gi` runs it, given the worst case of every endpoint
/// at once: signal propagation at initialization of the largest registered architectures and of
/// a wide design at the largest input, the largest images the body limit lets through to every
/// model, an estimation-shift pass and a recalibration over Fashion-MNIST's test set. The kernel
/// must never kill it; every request gets 200 or a JSON refusal. Skipped, saying why, where no
/// memory cgroup can be made. `NFSERVE_CGROUP_IMAGES` sets the ESM and recalibration passes'
/// images (2,000 by default: the debug build is slow; 10,000 is the whole test set).
@Suite(.serialized, .machineLoad(.exclusive)) struct MemoryCgroupTests {
    struct Cgroup {
        let path: String
        let version: Int
        var procs: String { path + "/cgroup.procs" }

        /// A new memory cgroup below the one this process is in, limited to `limit` bytes.
        static func make(limit: Int) -> Cgroup? {
            guard getuid() == 0, let membership = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
            let name = "nfserve-test-\(UUID().uuidString.prefix(8))"
            for line in membership.split(separator: "\n") {
                let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count == 3 else { continue }
                if fields[1].split(separator: ",").contains("memory") {
                    let path = "/sys/fs/cgroup/memory" + fields[2] + "/" + name
                    if mkdir(path, 0o755) == 0, write("\(limit)", to: path + "/memory.limit_in_bytes") {
                        return Cgroup(path: path, version: 1)
                    }
                }
                if fields[0] == "0", fields[1].isEmpty,
                    (try? String(contentsOfFile: "/sys/fs/cgroup/cgroup.controllers", encoding: .utf8))?.contains("memory") == true
                {
                    let parent = "/sys/fs/cgroup" + (fields[2] == "/" ? "" : fields[2])
                    _ = write("+memory", to: parent + "/cgroup.subtree_control")
                    let path = parent + "/" + name
                    if mkdir(path, 0o755) == 0, write("\(limit)", to: path + "/memory.max") { return Cgroup(path: path, version: 2) }
                }
            }
            return nil
        }

        static func write(_ text: String, to file: String) -> Bool {
            FileManager.default.createFile(atPath: file, contents: nil) || FileManager.default.fileExists(atPath: file)
                ? (try? text.write(toFile: file, atomically: false, encoding: .utf8)) != nil : false
        }

        /// How often the kernel's OOM killer ran in it.
        var oomKills: Int {
            let file = version == 1 ? "/memory.oom_control" : "/memory.events"
            let text = (try? String(contentsOfFile: path + file, encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix("oom_kill ") }
            return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        }

        /// The largest memory use it saw, where the kernel reports it.
        var peakBytes: Int? {
            let file = version == 1 ? "/memory.max_usage_in_bytes" : "/memory.peak"
            return (try? String(contentsOfFile: path + file, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        func remove() { rmdir(path) }
    }

    /// One request on a connection of its own: the status and the body.
    static func send(port: Int, _ method: String, _ target: String, body: [UInt8] = [], headers: String = "") -> (Int, String) {
        guard let connection = try? RawHTTPConnection(port: port) else { return (0, "connect failed") }
        let head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\(headers)\r\n"
        guard (try? connection.send(Array(head.utf8) + body)) != nil else { return (0, "send failed") }
        let (bytes, _) = connection.readUntilClosed(timeout: .seconds(900))
        let text = String(decoding: bytes, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let bodyText = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, bodyText)
    }

    static func residentKiB(_ pid: Int32) -> Int? {
        let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status?.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }

    @Test func serverStaysWithinOneGiB() async throws {
        let binary = ShutdownTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build nfserve first: \(binary)")
        guard let cgroup = Cgroup.make(limit: 1 << 30) else {
            print("MemoryCgroupTests: skipped: no memory cgroup can be made here (needs root and cgroup v1 or v2 with the memory controller)")
            return
        }
        defer { cgroup.remove() }
        let checkpoints = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("checkpoints").path
        let token = "cgroup-test-token"
        let port = try ShutdownTests.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "echo $$ > \(cgroup.procs) && exec \(binary) serve --port \(port) --grpc-port 0 --checkpoints \(checkpoints) --log-level notice",
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["NFSERVE_ADMIN_TOKEN": token]) { $1 }
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let ready = ContinuousClock.now + .seconds(120)
        while try await onThread({ Self.send(port: port, "GET", "/v2/health/ready").0 }) != 200 {
            guard ContinuousClock.now < ready, process.isRunning else { throw TestFailure("nfserve never became ready in the cgroup") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let idle = Self.residentKiB(process.processIdentifier) ?? 0
        let hasTestSet = FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist")
        let images = ProcessInfo.processInfo.environment["NFSERVE_CGROUP_IMAGES"] ?? "2000"
        // A 16-megapixel grayscale PNG, stored (16 MB: under the 20 MiB body limit).
        let large = TestPNG.encode(width: 4000, height: 4000) { x, y in [UInt8((x ^ y) & 0xFF)] }
        var requests: [(String, String, String, [UInt8], String)] = [
            ("SPP dm_nfnet_f6 at init", "POST", "/diagnostics/spp", Array(#"{"model": "dm_nfnet_f6", "at_init": true}"#.utf8), ""),
            (
                "SPP resnet152 at init, batch 16 at 128 px", "POST", "/diagnostics/spp",
                Array(#"{"model": "resnet152", "at_init": true, "input": {"batch": 16, "size": 128}}"#.utf8), ""
            ),
            (
                "SPP resnet50 at init, batch 16 at 128 px (fits)", "POST", "/diagnostics/spp",
                Array(#"{"model": "resnet50", "at_init": true, "input": {"batch": 16, "size": 128}}"#.utf8), ""
            ),
            (
                "SPP of a design, width 8, batch 16 at 256 px", "POST", "/diagnostics/spp",
                Array(#"{"architecture": {"family": "nf_resnet", "depths": [1, 1, 1, 1], "width": 8}, "input": {"batch": 16, "size": 256}}"#.utf8), ""
            ),
        ]
        for model in ["fmnist-resnet-bn", "fmnist-resnet-xbn", "fmnist-nf-resnet"] {
            requests.append(("a 16-megapixel PNG to \(model)", "PUT", "/predictions/\(model)", large, "Content-Type: image/png\r\n"))
        }
        if hasTestSet {
            requests.append(
                (
                    "ESM of fmnist-resnet-bn over \(images) test images", "GET",
                    "/diagnostics/esm?model=fmnist-resnet-bn&dataset=fashion-mnist-test&limit=\(images)", [], ""
                ))
            requests.append(
                (
                    "recalibration of fmnist-resnet-xbn on \(images) test images", "POST",
                    "/models/fmnist-resnet-xbn/recalibrate?dataset=fashion-mnist-test&limit=\(images)", [],
                    "Authorization: Bearer \(token)\r\n"
                ))
        }
        let answers = try await withThrowingTaskGroup(of: (String, Int, String).self) { group in
            for (name, method, target, body, headers) in requests {
                group.addTask {
                    try await onThread {
                        let (status, text) = Self.send(port: port, method, target, body: body, headers: headers)
                        return (name, status, text)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Foundation may not have reaped a killed child yet: /proc tells.
        let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let alive = process.isRunning && status.map { !$0.contains("State:\tZ") } == true
        try await Task.sleep(for: .seconds(1))
        let after = Self.residentKiB(process.processIdentifier)
        print(
            "MemoryCgroupTests: cgroup v\(cgroup.version) limit 1 GiB; peak \(cgroup.peakBytes.map { "\($0 >> 20) MiB" } ?? "unknown"); resident idle \(idle >> 10) MiB, after \(after.map { "\($0 >> 10) MiB" } ?? "?"); OOM kills \(cgroup.oomKills)"
        )
        for (name, status, text) in answers.sorted(by: { $0.0 < $1.0 }) { print("  \(status) \(name): \(text.prefix(200))") }
        #expect(alive, "the server was killed")
        // What stays: the recalibrated statistics beside the checkpoint's, the live sums, the
        // plans built for the large inputs.
        #expect((after ?? .max) <= idle + (256 << 10), "resident after the requests within 256 MiB of idle (\(idle) KiB)")
        #expect(cgroup.oomKills == 0, "the kernel's OOM killer ran")
        for (name, status, text) in answers {
            let refusal = [400, 413, 503].contains(status) && text.contains("\"error\"")
            #expect(status == 200 || refusal, "\(name): \(status) \(text.prefix(300))")
        }
        #expect(answers.contains { $0.0.hasPrefix("SPP dm_nfnet_f6") && $0.1 == 413 }, "dm_nfnet_f6's 5 GB can never fit in 1 GiB")
        #expect(answers.contains { $0.0.hasPrefix("SPP resnet50") && [200, 503].contains($0.1) }, "resnet50's 0.4 GB fits when nothing else runs")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}
