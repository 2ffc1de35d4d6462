#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes that outlive any single call: either a private read-only mapping of a file or an
/// owned heap copy of an in-memory buffer.
///
/// Mapping instead of reading keeps opening a checkpoint cheap (only the header is touched at open
/// time) and lets the kernel share the page cache between processes serving the same model.
/// `@unchecked Sendable` is sound because the memory is never written after `init`: the mapping is
/// `PROT_READ`, the heap copy is filled once and only read afterwards, and `deinit` runs when no
/// reference (and so no reader) is left.
final class FileBytes: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    private let isMapped: Bool

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Copies `bytes` into memory owned by this object.
    init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { source in
            if let address = source.baseAddress { memory.copyMemory(from: address, byteCount: source.count) }
        }
        base = UnsafeRawPointer(memory)
        count = bytes.count
        isMapped = false
    }

    /// Maps the file at `path`. Files shorter than the 8-byte prefix are refused before mapping
    /// (a zero-length `mmap` is an error on Linux), with the same error the header check gives.
    init(mapping path: String) throws(CheckpointError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(file: path, reason: Self.lastError()) }
        defer { close(descriptor) }  // the mapping stays valid after the descriptor is closed

        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .cannotOpen(file: path, reason: Self.lastError()) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        guard size >= 8 else { throw .truncated(file: path, size: size) }

        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw .cannotOpen(file: path, reason: "mmap of \(size) bytes failed: \(Self.lastError())")
        }
        base = UnsafeRawPointer(address)
        count = size
        isMapped = true
    }

    deinit {
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    private static func lastError() -> String {
        String(cString: strerror(errno))
    }
}

/// Reads a whole (small) file, such as `config.json`, with errors that name the file.
func readWholeFile(path: String) throws(CheckpointError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw .cannotOpen(file: path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if got < 0 {
            if errno == EINTR { continue }
            throw .cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        if got == 0 { return result }
        result.append(contentsOf: chunk[0..<got])
    }
}
