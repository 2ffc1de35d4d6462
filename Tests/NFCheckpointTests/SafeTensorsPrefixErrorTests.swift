import Testing

@testable import NFCheckpoint

/// The 8-byte length prefix and where it points.
@Suite struct SafeTensorsPrefixErrorTests {
    @Test func fewerThanEightBytesIsTruncated() {
        let error = openError([0x10, 0, 0])
        #expect(error == .truncated(file: "t.safetensors", size: 3))
        #expect(
            error?.description
                == "t.safetensors: file is truncated: 3 bytes, shorter than the 8-byte header length that starts every safetensors file")
        #expect(openError([]) == .truncated(file: "t.safetensors", size: 0))
    }

    @Test func headerLengthPastTheEndIsTruncated() {
        var bytes = SafeTensorsWriter.encode([("w", .F32, [4], f32Bytes([1, 2, 3, 4]))])
        bytes.removeLast(bytes.count - 20)  // keep the prefix and part of the header
        let length = UInt64(bytes.prefix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })
        let error = openError(bytes)
        #expect(error == .headerPastEnd(file: "t.safetensors", headerLength: length, fileSize: 20))
        #expect(error?.description.contains("truncated") == true)
        #expect(error?.description.contains("header length \(length) bytes runs past the end of the 20-byte file") == true)
    }

    @Test func headerLongerThanTheLimitIsRejected() {
        var bytes = framed("{}", dataCount: 0)
        withUnsafeBytes(of: UInt64(100_000_001).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        let error = openError(bytes)
        #expect(error == .headerTooLarge(file: "t.safetensors", headerLength: 100_000_001, limit: 100_000_000))
        #expect(error?.description.contains("header length 100000001 bytes exceeds the 100000000-byte limit") == true)

        // A corrupt prefix near UInt64.max must not overflow while being checked.
        withUnsafeBytes(of: UInt64.max.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        #expect(openError(bytes) == .headerTooLarge(file: "t.safetensors", headerLength: .max, limit: 100_000_000))
    }
}
