import Foundation
import Glibc

/// A blocking TCP connection to the test server, for what an HTTP client library hides:
/// reading the interim `100 Continue` before the body is sent.
final class RawHTTPConnection: @unchecked Sendable {
    fileprivate let socket: Int32

    /// A socket call that failed, with its errno (`ECONNREFUSED` from connect when nothing
    /// listens, `EPIPE` or `ECONNRESET` from send on a connection the server reset).
    struct SocketFailure: Error, CustomStringConvertible {
        let call: String
        let errno: Int32
        var description: String { "\(call)() failed: errno \(errno)" }
    }

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw TestFailure("socket() failed") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // No close here: an initializer that throws once every property is set still runs
        // deinit, which closes the socket; closing it twice could close a descriptor another
        // thread has just been given.
        guard connected == 0 else { throw SocketFailure(call: "connect", errno: errno) }
    }

    deinit { close(socket) }

    /// Ends the connection both ways now, as a client that gives up does (the descriptor is
    /// closed at deinit).
    func hangUp() { shutdown(socket, Int32(SHUT_RDWR)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a connection the server reset answers EPIPE instead of killing the tests.
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw SocketFailure(call: "send", errno: errno) }
            offset += sent
        }
    }

    /// Reads one response head (up to the blank line), or nil when the connection closes or
    /// `timeout` passes first.
    func readHead(timeout: Duration = .seconds(10)) -> String? { readHeadOrEnd(timeout: timeout).head }

    /// One response head, or how the connection ended without one: `reset` when a read failed
    /// with `ECONNRESET` (the peer reset the connection), else closed or timed out.
    func readHeadOrEnd(timeout: Duration = .seconds(10)) -> (head: String?, reset: Bool) {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        let deadline = ContinuousClock.now + timeout
        while !bytes.ends(with: Array("\r\n\r\n".utf8)) {
            let n = recv(socket, &byte, 1, 0)
            if n == 1 {
                bytes.append(byte)
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK, ContinuousClock.now < deadline {
                continue
            } else {
                return (nil, n < 0 && errno == ECONNRESET)
            }
        }
        return (String(decoding: bytes, as: UTF8.self), false)
    }
}

extension RawHTTPConnection {
    /// Reads until the server closes the connection (true) or `timeout` passes without it (false),
    /// returning what was read.
    func readUntilClosed(timeout: Duration) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (bytes, true) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { continue }
                return (bytes, true)  // reset by the server: closed as well
            }
            bytes += buffer[0..<n]
        }
        return (bytes, false)
    }
}

extension Array where Element: Equatable {
    func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}

/// Runs blocking socket work on a thread of its own, off Swift's cooperative pool: the
/// in-process server's handlers run on that pool, and on a 2-core machine two test tasks
/// blocked in `recv` would leave it no thread.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
