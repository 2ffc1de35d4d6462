import Testing

@testable import NFCheckpoint

/// The JSON header itself: encoding, syntax, entry fields and dtypes.
@Suite struct SafeTensorsHeaderErrorTests {
    @Test func invalidJSONIsRejected() {
        let error = openError(framed(#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]"#, dataCount: 4))
        guard case .invalidHeaderJSON(let file, let reason)? = error else {
            Issue.record("expected invalidHeaderJSON, got \(String(describing: error))")
            return
        }
        #expect(file == "t.safetensors")
        #expect(reason.contains("unexpected end of input"))
        #expect(error?.description.hasPrefix("t.safetensors: header is not valid JSON: ") == true)

        let trailing = openError(framed(#"{} x"#, dataCount: 0))
        #expect(trailing?.description.contains("after the end of the document at byte 3") == true)
    }

    @Test func headerMustBeUTF8() {
        let bytes = SafeTensorsWriter.frame(header: [0x7B, 0x22, 0xFF, 0x22, 0x7D], data: [])
        #expect(openError(bytes) == .headerNotUTF8(file: "t.safetensors", byteOffset: 2))
    }

    @Test func headerMustBeAnObject() {
        let error = openError(framed("[1, 2]", dataCount: 0))
        #expect(error == .headerNotObject(file: "t.safetensors", found: #""[1, 2]""#))
        #expect(error?.description.contains("must be a JSON object starting with '{'") == true)
        #expect(openError(framed("", dataCount: 0)) == .headerNotObject(file: "t.safetensors", found: "an empty header (header length 0)"))
    }

    @Test func spacePaddingAfterTheHeaderIsAllowed() throws {
        let file = try SafeTensorsFile(bytes: framed(#"{"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}     "#, dataCount: 2))
        #expect(file.names == ["w"])
    }

    @Test func duplicateTensorNamesAreRejected() {
        let header = #"{"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#
        let error = openError(framed(header, dataCount: 4))
        #expect(error == .duplicateTensor(file: "t.safetensors", tensor: "w"))
        #expect(error?.description.contains("\"w\" appears more than once") == true)
    }

    @Test func unknownDTypeNamesTheTensorAndTheKnownTypes() {
        let error = openError(framed(#"{"fc.weight": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}"#, dataCount: 2))
        #expect(error == .unknownDType(file: "t.safetensors", tensor: "fc.weight", dtype: "F8_E4M3"))
        #expect(
            error?.description
                == #"t.safetensors: tensor "fc.weight": unknown dtype "F8_E4M3"; known dtypes are F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"#)
    }

    @Test func entriesNeedAllThreeFieldsWithTheRightTypes() {
        let cases: [(String, String)] = [
            (#"{"dtype": "F32", "shape": [1]}"#, #"missing "data_offsets""#),
            (#"{"shape": [1], "data_offsets": [0, 4]}"#, #"missing "dtype""#),
            (#"{"dtype": "F32", "data_offsets": [0, 4]}"#, #"missing "shape""#),
            (#"{"dtype": 32, "shape": [1], "data_offsets": [0, 4]}"#, #""dtype" must be a string, got number 32"#),
            (#"{"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}"#, #""shape" must be an array of integers, got string "1""#),
            (#"{"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}"#, #""shape" must be an array of integers"#),
            (
                #"{"dtype": "F32", "shape": [1], "data_offsets": [0]}"#,
                #""data_offsets" must be two non-negative integers [begin, end], got array [0]"#
            ),
            (#"{"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}"#, #""data_offsets" must be two non-negative integers"#),
            (#"[1]"#, #"entry must be an object"#),
        ]
        for (entry, message) in cases {
            let error = openError(framed(#"{"conv.weight": \#(entry)}"#, dataCount: 4))
            guard case .invalidEntry(_, let tensor, _)? = error else {
                Issue.record("\(entry): expected invalidEntry, got \(String(describing: error))")
                continue
            }
            #expect(tensor == "conv.weight")
            #expect(error?.description.hasPrefix(#"t.safetensors: tensor "conv.weight": "#) == true)
            #expect(error?.description.contains(message) == true, "\(entry): \(String(describing: error))")
        }
    }

    @Test func metadataMustMapStringsToStrings() {
        let error = openError(framed(#"{"__metadata__": {"epochs": 90}}"#, dataCount: 0))
        #expect(error == .invalidMetadata(file: "t.safetensors", reason: #"value for "epochs" must be a string, got number 90"#))
        #expect(openError(framed(#"{"__metadata__": "pt"}"#, dataCount: 0))?.description.contains("must be an object of strings") == true)
    }
}
