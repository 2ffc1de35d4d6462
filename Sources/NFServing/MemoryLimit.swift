import Foundation
import Glibc
import NFTensors
import Synchronization

/// How much memory the server may use: `--memory-limit`, else the memory cgroup the process is in
/// (cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`, the smallest along the path up to the
/// root), else the machine's memory (`MemTotal`). The server's byte budgets are sized from it.
public struct MemoryLimit: Sendable, Equatable, CustomStringConvertible {
    public var bytes: Int
    /// Where the limit came from, for the start-up log.
    public var source: String

    public init(bytes: Int, source: String) {
        self.bytes = bytes
        self.source = source
    }

    public var description: String { "\(Self.format(bytes)) (\(source))" }

    /// `1073741824`, `1GiB`, `512MiB`, `1.5G`, `800M`, `64k`: binary units (Kubernetes writes
    /// `1Gi`, which is accepted too); a bare number is bytes.
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).lowercased()
        guard let value = Double(digits), value > 0 else { return nil }
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "k", "ki", "kib", "kb": scale = 0x1p10
        case "m", "mi", "mib", "mb": scale = 0x1p20
        case "g", "gi", "gib", "gb": scale = 0x1p30
        case "t", "ti", "tib", "tb": scale = 0x1p40
        default: return nil
        }
        let bytes = value * scale
        guard bytes >= 1, bytes < 9e18 else { return nil }
        return Int(bytes)
    }

    public static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 30, bytes % (1 << 20) == 0 {
            let gib = Double(bytes) / Double(1 << 30)
            return gib == gib.rounded() ? "\(Int(gib)) GiB" : String(format: "%.2f GiB", gib)
        }
        if bytes >= 1 << 20 { return "\(bytes >> 20) MiB" }
        return "\(bytes) bytes"
    }

    /// The limit of the process's memory cgroup, else the machine's memory. `root` replaces `/`
    /// (tests give a folder laid out like /proc and /sys).
    public static func detect(root: String = "") -> MemoryLimit {
        if let limit = cgroupLimit(root: root) { return limit }
        if let total = machineMemory(root: root) { return MemoryLimit(bytes: total, source: "the machine's memory") }
        return MemoryLimit(bytes: 8 << 30, source: "unknown; assumed")
    }

    /// The smallest limit from the process's cgroup up to the root: cgroup v2 first, then v1.
    public static func cgroupLimit(root: String) -> MemoryLimit? {
        guard let membership = try? String(contentsOfFile: root + "/proc/self/cgroup", encoding: .utf8) else { return nil }
        var v2Path: String?, v1Path: String?
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0", fields[1].isEmpty { v2Path = String(fields[2]) }
            if fields[1].split(separator: ",").contains("memory") { v1Path = String(fields[2]) }
        }
        if let v2Path, let bytes = smallest(base: root + "/sys/fs/cgroup", path: v2Path, file: "memory.max") {
            return MemoryLimit(bytes: bytes, source: "cgroup v2 memory.max")
        }
        if let v1Path, let bytes = smallest(base: root + "/sys/fs/cgroup/memory", path: v1Path, file: "memory.limit_in_bytes") {
            return MemoryLimit(bytes: bytes, source: "cgroup v1 memory.limit_in_bytes")
        }
        return nil
    }

    /// The smallest numeric limit in `file` along `path`'s folders under `base` (a container sees
    /// its own cgroup as the root, so the root's file counts too); "max" and v1's "no limit"
    /// (near 2^63) are none.
    private static func smallest(base: String, path: String, file: String) -> Int? {
        var components = path.split(separator: "/").map(String.init)
        var found: Int?
        while true {
            let folder = components.isEmpty ? base : base + "/" + components.joined(separator: "/")
            if let text = try? String(contentsOfFile: folder + "/" + file, encoding: .utf8),
                let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0, value < 1 << 62
            {
                found = min(found ?? value, value)
            }
            if components.isEmpty { break }
            components.removeLast()
        }
        return found
    }

    public static func machineMemory(root: String) -> Int? {
        guard let text = try? String(contentsOfFile: root + "/proc/meminfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") })
        else { return nil }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let kib = Int(fields[1]) else { return nil }
        return kib << 10
    }
}

/// The byte budgets sized from a memory limit, each capped at the size that measured enough
/// without a limit: what requests waiting for the compute pool may hold, what the plans' buffer
/// pool keeps cached, and what one recalibration may hold of a dataset.
public struct MemoryBudgets: Sendable, Equatable {
    public var limit: MemoryLimit
    public var queuedInputBytes: Int
    public var bufferPoolBytes: Int
    public var recalibrationBytes: Int

    public init(limit: MemoryLimit) {
        self.limit = limit
        queuedInputBytes = min(512 << 20, limit.bytes / 8)
        bufferPoolBytes = min(256 << 20, limit.bytes / 8)
        recalibrationBytes = min(512 << 20, limit.bytes / 8)
    }

    public var description: String {
        "memory limit \(limit); budgets: queued inputs \(MemoryLimit.format(queuedInputBytes)), "
            + "plan buffer cache \(MemoryLimit.format(bufferPoolBytes)), recalibration \(MemoryLimit.format(recalibrationBytes))"
    }
}

/// Gives memory the process no longer uses back to the system: the plans' cached buffers, and the
/// pages glibc keeps after `free` (`malloc_trim`). Run after each diagnostics job, whose weights
/// at initialization and activations can take gigabytes for a moment.
public enum MemoryReturn {
    public static func now() {
        BufferPool.shared.releaseCached()
        _ = mallocTrim?(0)
    }

    /// glibc's `malloc_trim`, looked up at run time (Swift's Glibc module does not bring in
    /// malloc.h); nil on a C library without it.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    /// The process's resident memory in bytes (`/proc/self/statm`), nil where it cannot be read.
    public static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Admits memory-hungry work (diagnostics) by its estimate, before it allocates: refused for
/// good when it could not fit even in an idle server (`tooLarge`), or for now when what runs leaves
/// too little (`busy`, retry after 10 s). Inference keeps its headroom: the queued inputs' budget
/// and the plan buffer cache.
public final class MemoryAdmission: Sendable {
    public let budgets: MemoryBudgets
    private let state = Mutex((reserved: 0, idleResident: Int?.none))

    public init(budgets: MemoryBudgets) { self.budgets = budgets }

    private var headroom: Int { budgets.queuedInputBytes + budgets.bufferPoolBytes }

    /// Reserves `bytes` for `what` until `release(_:)`; throws when they do not fit.
    public func reserve(_ bytes: Int, for what: String) throws {
        let resident = MemoryReturn.residentBytes() ?? 0
        let limit = budgets.limit.bytes
        try state.withLock { state in
            // What the server holds when no diagnostics run: the lowest resident size seen after one.
            let idle = min(resident, state.idleResident ?? resident)
            guard bytes <= limit - idle - headroom else {
                throw ServingError(
                    .tooLarge,
                    """
                    \(what) needs about \(MemoryLimit.format(bytes)) of memory; the server may use \(budgets.limit) and holds \
                    \(MemoryLimit.format(idle)) with \(MemoryLimit.format(headroom)) kept for inference, so it can never fit: \
                    use a smaller batch, size or network, or give the server more memory (--memory-limit)
                    """)
            }
            guard bytes <= limit - resident - headroom - state.reserved else {
                throw ServingError(
                    .busy(retryAfterSeconds: 10),
                    """
                    \(what) needs about \(MemoryLimit.format(bytes)) of memory and \
                    \(MemoryLimit.format(max(0, limit - resident - headroom - state.reserved))) is free now; retry later
                    """)
            }
            state.reserved += bytes
        }
    }

    /// Ends a reservation; the resident size now (after the job gave its memory back) is what
    /// the server holds idle, if lower than before.
    public func release(_ bytes: Int) {
        let resident = MemoryReturn.residentBytes()
        state.withLock { state in
            state.reserved -= bytes
            if state.reserved == 0, let resident { state.idleResident = min(resident, state.idleResident ?? resident) }
        }
    }
}
