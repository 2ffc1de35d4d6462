import Testing

@testable import NFCheckpoint

/// Errors from reading tensors of a valid file.
@Suite struct SafeTensorsReadErrorTests {
    let file: SafeTensorsFile

    init() throws {
        file = try SafeTensorsFile(
            bytes: SafeTensorsWriter.encode([
                ("bn1.num_batches_tracked", .I64, [], i64Bytes([7])),
                ("bn1.weight", .F32, [1], f32Bytes([1])),
            ]), name: "t.safetensors")
    }

    @Test func floatsOfAnIntegerTensorThrowsUnsupportedDType() {
        let error = #expect(throws: CheckpointError.self) { try file.floats("bn1.num_batches_tracked") }
        #expect(error == .unsupportedDType(file: "t.safetensors", tensor: "bn1.num_batches_tracked", dtype: .I64))
        #expect(
            error?.description
                == #"t.safetensors: tensor "bn1.num_batches_tracked": dtype I64 cannot be read as floats (only F64, F32, F16 and BF16 can)"#)
    }

    @Test func unknownTensorNameThrows() {
        let error = #expect(throws: CheckpointError.self) { try file.floats("bn2.weight") }
        #expect(error == .tensorNotFound(file: "t.safetensors", tensor: "bn2.weight"))
        #expect(error?.description == #"t.safetensors: no tensor named "bn2.weight""#)
        #expect(throws: CheckpointError.tensorNotFound(file: "t.safetensors", tensor: "x")) { try file.bytes("x") }
    }
}
