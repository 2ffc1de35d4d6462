import Foundation
import Testing

@testable import NFCheckpoint

@Suite("SafeTensorsFile reads what SafeTensorsWriter writes")
struct SafeTensorsRoundTripTests {
    @Test func f32RoundTripsExactly() throws {
        let values: [Float] = [0, -0.0, 1, -2.5, .pi, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([("w", .F32, [3, 3], f32Bytes(values))]))
        let read = try file.floats("w")
        #expect(read.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(file.info("w") == TensorInfo(name: "w", dtype: .F32, shape: [3, 3], dataRange: 0..<36))
    }

    @Test func f16ConvertsBitPatterns() throws {
        let patterns: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00, 0xFC00, 0x7BFF, 0x3555, 0x8000]
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([("h", .F16, [8], u16Bytes(patterns))]))
        let read = try file.floats("h")
        #expect(read[0] == 1.0)
        #expect(read[1] == -2.0)
        #expect(read[2] == 0x1p-24)  // smallest half subnormal
        #expect(read[3] == .infinity)
        #expect(read[4] == -.infinity)
        #expect(read[5] == 65504)  // largest finite half
        #expect(read[6] == 0.333251953125)
        #expect(read[7] == 0 && read[7].sign == .minus)
    }

    @Test func f16NaNStaysNaN() throws {
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([("h", .F16, [1], u16Bytes([0x7E00]))]))
        #expect(try file.floats("h")[0].isNaN)
    }

    @Test func bf16IsTheUpperHalfOfF32() throws {
        let patterns: [UInt16] = [0x3F80, 0xC000, 0x0001, 0x7F80, 0xFF80, 0x4049]
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([("b", .BF16, [2, 3], u16Bytes(patterns))]))
        let read = try file.floats("b")
        #expect(read[0] == 1.0)
        #expect(read[1] == -2.0)
        #expect(read[2] == Float(bitPattern: 0x0001_0000))  // a subnormal, 2^-133
        #expect(read[2].isSubnormal)
        #expect(read[3] == .infinity)
        #expect(read[4] == -.infinity)
        #expect(read[5] == 3.140625)
    }

    @Test func f64RoundsToFloat() throws {
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([("d", .F64, [3], f64Bytes([0.1, -3, 1e300]))]))
        #expect(try file.floats("d") == [Float(0.1), -3, .infinity])
    }

    /// Offsets need not be aligned to the element size; reads must not assume they are.
    @Test func unalignedTensorsReadCorrectly() throws {
        let bytes = SafeTensorsWriter.encode([
            ("a.mask", .U8, [1], [7]),
            ("b.weight", .F32, [2], f32Bytes([1.5, -4])),
            ("c.half", .F16, [1], u16Bytes([0x3C00])),
        ])
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(file.info("b.weight")?.dataRange == 1..<9)
        #expect(try file.floats("b.weight") == [1.5, -4])
        #expect(try file.floats("c.half") == [1])
        #expect(try file.bytes("a.mask") == [7])
    }

    @Test func namesAreSortedAndMetadataIsKept() throws {
        let bytes = SafeTensorsWriter.encode(
            [("fc.weight", .F32, [1], f32Bytes([1])), ("conv1.weight", .F32, [1], f32Bytes([2]))],
            metadata: ["format": "pt", "note": "quote \" and \u{e9}"])
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(file.names == ["conv1.weight", "fc.weight"])
        #expect(file.metadata == ["format": "pt", "note": "quote \" and \u{e9}"])
        #expect(file.info("missing") == nil)
        #expect(file.tensorInfos.map(\.name) == file.names)
        #expect(file.dataOffset % 8 == 0)  // the writer pads the header like the reference writer
    }

    @Test func scalarsAndEmptyTensorsAreValid() throws {
        let bytes = SafeTensorsWriter.encode([
            ("empty", .F32, [0, 3], []),
            ("scalar", .F32, [], f32Bytes([42])),
        ])
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(try file.floats("empty") == [])
        #expect(try file.floats("scalar") == [42])
        #expect(file.info("scalar")?.elementCount == 1)
    }

    @Test func emptyFileWithOnlyHeaderIsValid() throws {
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([]))
        #expect(file.names.isEmpty)
        #expect(file.dataLength == 0)
    }

    @Test func pathInitMapsTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let bytes = SafeTensorsWriter.encode(
            [
                ("layer1.0.conv1.weight", .F32, [2, 1, 1, 1], f32Bytes([0.25, -8])),
                ("layer1.0.bn1.num_batches_tracked", .I64, [], i64Bytes([12])),
            ],
            metadata: ["format": "pt"])
        let path = try directory.write(bytes, to: "model.safetensors")
        let file = try SafeTensorsFile(path: path)
        #expect(file.name == path)
        #expect(file.names == ["layer1.0.bn1.num_batches_tracked", "layer1.0.conv1.weight"])
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.floats("layer1.0.conv1.weight") == [0.25, -8])
        #expect(try file.bytes("layer1.0.bn1.num_batches_tracked") == i64Bytes([12]))
    }

    @Test func pathErrorsNameTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let missing = directory.url.appendingPathComponent("nope.safetensors").path
        let error = #expect(throws: CheckpointError.self) { try SafeTensorsFile(path: missing) }
        #expect(error?.description.hasPrefix("\(missing): cannot open") == true)

        let short = try directory.write([1, 2, 3], to: "short.safetensors")
        #expect(throws: CheckpointError.truncated(file: short, size: 3)) { try SafeTensorsFile(path: short) }

        let folder = #expect(throws: CheckpointError.self) { try SafeTensorsFile(path: directory.url.path) }
        #expect(folder?.description.contains("not a regular file") == true)
    }

    @Test func fileIsUsableFromConcurrentTasks() async throws {
        let values = (0..<64).map(Float.init)
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode([("w", .F32, [64], f32Bytes(values))]))
        let sums = try await withThrowingTaskGroup(of: Float.self) { group in
            for _ in 0..<4 { group.addTask { try file.floats("w").reduce(0, +) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sums == [Float](repeating: 2016, count: 4))
    }
}
