import Foundation
import Glibc

/// The `nfserve` binary the process tests start: `NFSERVE_BINARY` when set, else the one next to
/// the test bundle (`swift build --build-tests` builds both), else `.build/debug/nfserve`.
public enum ServerBinary {
    public static var path: String {
        if let chosen = ProcessInfo.processInfo.environment["NFSERVE_BINARY"], !chosen.isEmpty { return chosen }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for folder in [beside, beside.deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("nfserve").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/nfserve").path
    }

    /// A port nobody listens on (bound once by the kernel's choice, then released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw NoFreePort() }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct NoFreePort: Error {}
