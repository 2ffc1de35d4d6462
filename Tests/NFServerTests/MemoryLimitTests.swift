import Foundation
import Testing

@testable import NFServer
@testable import NFServing

/// `MemoryLimit`: the flag's units, and the limit read from a cgroup hierarchy laid out in a
/// temporary folder as /proc and /sys are (cgroup v2 and v1, nested, unlimited).
@Suite struct MemoryLimitTests {
    @Test func unitsAreBinary() {
        #expect(MemoryLimit.parse("1073741824") == 1 << 30)
        #expect(MemoryLimit.parse("1GiB") == 1 << 30)
        #expect(MemoryLimit.parse("1Gi") == 1 << 30)
        #expect(MemoryLimit.parse("1.5G") == 3 << 29)
        #expect(MemoryLimit.parse("512MiB") == 512 << 20)
        #expect(MemoryLimit.parse("64k") == 64 << 10)
        #expect(MemoryLimit.parse("") == nil)
        #expect(MemoryLimit.parse("-1G") == nil)
        #expect(MemoryLimit.parse("1 parsec") == nil)
        #expect(MemoryLimit.parse("0") == nil)
        #expect(MemoryLimit.parse("99999999999T") == nil)
    }

    /// A root folder with the given files (path relative to the root -> contents).
    static func root(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-cgroup-\(UUID().uuidString)")
        for (path, contents) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url)
        }
        return root.path
    }

    static let meminfo = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n"

    @Test func cgroupV2TakesTheSmallestLimitUpThePath() throws {
        let root = try Self.root([
            "proc/self/cgroup": "0::/kubepods/pod1/nfserve\n",
            "proc/meminfo": Self.meminfo,
            "sys/fs/cgroup/kubepods/pod1/nfserve/memory.max": "max\n",
            "sys/fs/cgroup/kubepods/pod1/memory.max": "1073741824\n",
            "sys/fs/cgroup/kubepods/memory.max": "8589934592\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(MemoryLimit.detect(root: root) == MemoryLimit(bytes: 1 << 30, source: "cgroup v2 memory.max"))
    }

    @Test func cgroupV1MemoryController() throws {
        let root = try Self.root([
            "proc/self/cgroup": "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n",
            "proc/meminfo": Self.meminfo,
            "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "536870912\n",
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(MemoryLimit.detect(root: root) == MemoryLimit(bytes: 512 << 20, source: "cgroup v1 memory.limit_in_bytes"))
    }

    @Test func noLimitMeansTheMachinesMemory() throws {
        let root = try Self.root([
            "proc/self/cgroup": "0::/user.slice\n",
            "proc/meminfo": Self.meminfo,
            "sys/fs/cgroup/user.slice/memory.max": "max\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(MemoryLimit.detect(root: root) == MemoryLimit(bytes: 24_576_000 << 10, source: "the machine's memory"))
    }

    @Test func budgetsShrinkWithTheLimitAndAreCappedWithout() {
        let small = MemoryBudgets(limit: MemoryLimit(bytes: 1 << 30, source: "test"))
        #expect(small.queuedInputBytes == 128 << 20 && small.bufferPoolBytes == 128 << 20 && small.recalibrationBytes == 128 << 20)
        let large = MemoryBudgets(limit: MemoryLimit(bytes: 64 << 30, source: "test"))
        #expect(large.queuedInputBytes == 512 << 20 && large.bufferPoolBytes == 256 << 20 && large.recalibrationBytes == 512 << 20)
    }
}
