import Foundation
import NFRequestFormats
import Testing

/// Triton's binary tensor data extension, decoded below HTTP: the JSON header of
/// `Inference-Header-Content-Length` bytes, then each binary input's bytes in order. The bodies
/// are built here byte by byte as tritonclient 2.x lays them out (its `_get_inference_request`:
/// JSON, then the raw tensors; BYTES elements as a 4-byte little-endian length and the bytes).
@Suite struct BinaryTensorDataTests {
    static let requirements = InputRequirements(channels: 1, minimumSize: 2, maximumSize: 4096, maxBatch: 64)

    static func body(_ json: String, _ binary: [UInt8]) -> (body: [UInt8], header: String) {
        let header = Array(json.utf8)
        return (header + binary, String(header.count))
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    }

    static func element(_ bytes: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { Array($0) } + bytes
    }

    @Test func fp32InputIsReadLittleEndianRowMajor() throws {
        let values: [Float] = [0.5, -1.25, 3e-8, 1024, 7, -0.0, 2, 1]
        let (body, header) = Self.body(
            #"{"inputs":[{"name":"input","shape":[2,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":32}}]}"#, Self.floats(values))
        let request = try InferenceRequest.decode(body, headerLength: header)
        let tensor = try request.inputs[0].tensor(Self.requirements)
        #expect(tensor.shape == [2, 1, 2, 2])
        #expect(tensor.storage == values)
    }

    @Test func bytesInputHoldsOneImagePerElement() throws {
        let images: [[UInt8]] = [[0x89, 0x50, 0x4E, 0x47], [0xFF, 0xD8, 0xFF], []]
        let binary = images.flatMap(Self.element)
        let (body, header) = Self.body(
            #"{"inputs":[{"name":"image","shape":[3],"datatype":"BYTES","parameters":{"binary_data_size":\#(binary.count)}}]}"#, binary)
        let decoded = try InferenceRequest.decode(body, headerLength: header).inputs[0].encodedImages(maxImages: 64)
        #expect(decoded.map(\.bytes) == images)
    }

    @Test func jsonAndBinaryInputsMix() throws {
        let (body, header) = Self.body(
            #"{"inputs":[{"name":"a","shape":[1],"datatype":"BYTES","data":["AQI="]},{"name":"b","shape":[1,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#,
            Self.floats([1, 2, 3, 4]))
        let request = try InferenceRequest.decode(body, headerLength: header)
        #expect(try request.inputs[0].encodedImages(maxImages: 64).map(\.bytes) == [[1, 2]])
        #expect(try request.inputs[1].tensor(Self.requirements).storage == [1, 2, 3, 4])
    }

    @Test func outputsAskedBinaryPerOutputOrForAll() throws {
        let request = try InferenceRequest.decode(
            Data(#"{"inputs":[],"outputs":[{"name":"logits","parameters":{"binary_data":true}},{"name":"probabilities"}]}"#.utf8))
        #expect(request.wantsBinary(request.outputs?[0]))
        #expect(!request.wantsBinary(request.outputs?[1]))
        let all = try InferenceRequest.decode(Data(#"{"inputs":[],"parameters":{"binary_data_output":true}}"#.utf8))
        #expect(all.wantsBinary(nil))
    }

    /// Every size a client sends is checked against the body before use; each mistake is a 400
    /// that says what is wrong.
    @Test(
        arguments: [
            (
                "no header", #"{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":4}}]}"#,
                [UInt8](repeating: 0, count: 4), nil,
                "no Inference-Header-Content-Length header"
            ),
            (
                "no header and no bytes after the JSON",
                #"{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":0}}]}"#, [], nil,
                "no Inference-Header-Content-Length header"
            ),
            ("an empty body with a header", "", [], "0", "invalid JSON"),
            ("a header longer than the body", #"{"inputs":[]}"#, [], "999", "the body has only"),
            ("a header that is not a number", #"{"inputs":[]}"#, [], "12abc", "must be a byte count"),
            ("a negative header", #"{"inputs":[]}"#, [], "-1", "must be a byte count"),
            (
                "a size past the body", #"{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":1000000}}]}"#,
                [1, 2], "",
                "bytes of binary data are left"
            ),
            (
                "a negative size", #"{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":-4}}]}"#, [], "",
                "must be a byte count"
            ),
            ("bytes nobody claims", #"{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","data":["AA=="]}]}"#, [1, 2, 3], "", "no input claims"),
            (
                "data and a size", #"{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","data":["AA=="],"parameters":{"binary_data_size":0}}]}"#,
                [], "",
                "both data and binary_data_size"
            ),
        ] as [(String, String, [UInt8], String?, String)])
    func mistakesAre400(name: String, json: String, binary: [UInt8], header: String?, says: String) {
        let (body, length) = Self.body(json, binary)
        do {
            _ = try InferenceRequest.decode(body, headerLength: header.map { $0.isEmpty ? length : $0 })
            Issue.record("\(name): accepted")
        } catch {
            #expect(error.status == 400, "\(name)")
            #expect(error.message.contains(says), "\(name): \(error.message)")
        }
    }

    /// Binary FP32 values are checked as JSON ones are: NaN or infinity is a 400.
    @Test func nonFiniteBinaryValuesAre400() throws {
        let (body, header) = Self.body(
            #"{"inputs":[{"name":"x","shape":[1,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#, Self.floats([1, .nan, 3, 4]))
        #expect(throws: RequestError.badRequest("input \"x\": value 1 of its binary data is nan, not a finite float32 value")) {
            try InferenceRequest.decode(body, headerLength: header).inputs[0].tensor(Self.requirements)
        }
    }

    /// Sizes inside the data: an FP32 input whose bytes do not match its shape, a BYTES element
    /// whose length passes the end, a shape whose element count overflows.
    @Test func sizesInsideTheDataAreChecked() throws {
        let short = Self.body(
            #"{"inputs":[{"name":"x","shape":[1,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":12}}]}"#, Self.floats([1, 2, 3]))
        #expect(throws: RequestError.self) { try InferenceRequest.decode(short.body, headerLength: short.header).inputs[0].tensor(Self.requirements) }
        let huge = Self.body(
            #"{"inputs":[{"name":"x","shape":[4611686018427387904,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":4}}]}"#, Self.floats([1]))
        #expect(throws: RequestError.self) { try InferenceRequest.decode(huge.body, headerLength: huge.header).inputs[0].tensor(Self.requirements) }
        let overrun = [UInt8](Self.element([1, 2, 3]).prefix(5)) + [0xFF, 0xFF, 0xFF, 0x7F]
        let bytes = Self.body(#"{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":9}}]}"#, overrun)
        #expect(throws: RequestError.self) {
            try InferenceRequest.decode(bytes.body, headerLength: bytes.header).inputs[0].encodedImages(maxImages: 64)
        }
        let truncatedLength = Self.body(#"{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":2}}]}"#, [1, 0])
        #expect(throws: RequestError.self) {
            try InferenceRequest.decode(truncatedLength.body, headerLength: truncatedLength.header).inputs[0].encodedImages(maxImages: 64)
        }
    }
}
