import Testing

@testable import NFCheckpoint

/// Shapes, offsets and how the tensors cover the data section.
@Suite struct SafeTensorsLayoutErrorTests {
    @Test func sizeMustMatchShapeTimesDTypeSize() {
        let bytes = SafeTensorsWriter.encode([("layer1.0.conv1.weight", .F32, [4, 4, 3, 3], [UInt8](repeating: 0, count: 100))])
        let error = openError(bytes)
        #expect(
            error
                == .sizeMismatch(
                    file: "t.safetensors", tensor: "layer1.0.conv1.weight", begin: 0, end: 100,
                    shape: [4, 4, 3, 3], dtype: .F32, expected: 576))
        #expect(
            error?.description
                == #"t.safetensors: tensor "layer1.0.conv1.weight": data_offsets [0, 100) hold 100 bytes but shape [4, 4, 3, 3] of F32 needs 576"#)
    }

    @Test func offsetsMustStayInsideTheDataSection() {
        let error = openError(framed(#"{"fc.bias": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#, dataCount: 8))
        #expect(error == .offsetsOutOfRange(file: "t.safetensors", tensor: "fc.bias", begin: 4, end: 12, dataLength: 8))
        #expect(error?.description == #"t.safetensors: tensor "fc.bias": data_offsets [4, 12) lie outside the 8-byte data section"#)
    }

    @Test func overlappingTensorsAreRejected() {
        let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        let error = openError(framed(header, dataCount: 12))
        #expect(error == .overlappingTensors(file: "t.safetensors", first: "a", firstRange: 0..<8, second: "b", secondRange: 4..<12))
        #expect(error?.description == #"t.safetensors: tensors "a" [0, 8) and "b" [4, 12) overlap"#)
    }

    @Test func aliasedTensorsAreRejected() {
        let header = #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}"#
        #expect(
            openError(framed(header, dataCount: 4))
                == .overlappingTensors(file: "t.safetensors", first: "a", firstRange: 0..<4, second: "b", secondRange: 0..<4))
    }

    @Test func gapsBetweenTensorsAreRejected() {
        let header = #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#
        let error = openError(framed(header, dataCount: 12))
        #expect(error == .gapBetweenTensors(file: "t.safetensors", before: "a", after: "b", gap: 4..<8))
        #expect(error?.description.contains(#"data section has a gap: bytes [4, 8) between tensor "a" and tensor "b" belong to no tensor"#) == true)
    }

    @Test func gapBeforeTheFirstTensorIsRejected() {
        let error = openError(framed(#"{"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, dataCount: 8))
        #expect(error == .gapBetweenTensors(file: "t.safetensors", before: nil, after: "b", gap: 0..<4))
        #expect(error?.description.contains(#"bytes [0, 4) before the first tensor "b""#) == true)
    }

    @Test func trailingBytesAreRejected() {
        let error = openError(framed(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, dataCount: 6))
        #expect(error == .trailingBytes(file: "t.safetensors", last: "a", used: 4, dataLength: 6))
        #expect(error?.description.contains(#"2 trailing bytes"#) == true)
        #expect(error?.description.contains(#"after the last tensor "a""#) == true)
    }

    @Test func negativeDimensionsAreRejected() {
        let error = openError(framed(#"{"a": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 0]}}"#, dataCount: 0))
        #expect(error == .negativeDimension(file: "t.safetensors", tensor: "a", shape: [2, -1]))
        #expect(error?.description == #"t.safetensors: tensor "a": shape [2, -1] has a negative dimension"#)
    }

    @Test func reversedOffsetsAreRejected() {
        let error = openError(framed(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}"#, dataCount: 8))
        #expect(error == .reversedOffsets(file: "t.safetensors", tensor: "a", begin: 8, end: 4))
        #expect(error?.description.contains("data_offsets [8, 4) begin after they end") == true)
    }

    @Test func overflowingShapesAreRejectedWithoutTrapping() {
        let header = #"{"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}"#
        let error = openError(framed(header, dataCount: 8))
        #expect(error == .shapeTooLarge(file: "t.safetensors", tensor: "a", shape: [4_294_967_296, 4_294_967_296], dtype: .F64))
    }
}
