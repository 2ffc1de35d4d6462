import Foundation

@testable import NFCheckpoint

/// Little-endian bytes of Float32 values, as safetensors stores them.
func f32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
}

/// Little-endian bytes of raw 16-bit patterns (F16 or BF16).
func u16Bytes(_ patterns: [UInt16]) -> [UInt8] {
    patterns.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
}

func f64Bytes(_ values: [Double]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
}

func i64Bytes(_ values: [Int64]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
}

/// Opens `bytes` as an in-memory file named `t.safetensors` and returns the `CheckpointError` it
/// throws, or `nil` when it opens (or throws something else).
func openError(_ bytes: [UInt8]) -> CheckpointError? {
    do {
        _ = try SafeTensorsFile(bytes: bytes, name: "t.safetensors")
        return nil
    } catch {
        return error as? CheckpointError
    }
}

/// A hand-written header over `dataCount` zero bytes, for files that break one rule.
func framed(_ header: String, dataCount: Int) -> [UInt8] {
    SafeTensorsWriter.frame(header: header, data: [UInt8](repeating: 0, count: dataCount))
}

/// A fresh directory under the system temporary directory, removed by `cleanup`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("nfcheckpoint-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    func cleanup() {
        try? FileManager.default.removeItem(at: url)
    }
}
