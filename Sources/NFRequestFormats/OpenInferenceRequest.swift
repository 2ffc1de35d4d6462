import Foundation
import NFImage
import NFTensors

// The request document of the Open Inference Protocol v2 REST API (`POST .../infer`), decoded
// and validated here, below the HTTP stack: every number in it comes from a client.
// https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md

public struct InferenceRequest: Decodable, Sendable {
    public var id: String?
    public var inputs: [InferenceInput]
    public var outputs: [RequestedOutput]?
    /// Request parameters; `binary_data_output: true` asks for every output as binary data.
    public var parameters: [String: JSONScalar]?

    public init(id: String?, inputs: [InferenceInput], outputs: [RequestedOutput]?, parameters: [String: JSONScalar]? = nil) {
        (self.id, self.inputs, self.outputs, self.parameters) = (id, inputs, outputs, parameters)
    }

    /// Decodes a JSON request body; malformed JSON or a document of the wrong shape is a 400 that
    /// names where decoding failed.
    public static func decode(_ body: Data) throws(RequestError) -> InferenceRequest {
        do {
            return try JSONDecoder().decode(InferenceRequest.self, from: body)
        } catch let error as DecodingError {
            throw RequestError(invalidJSON: error)
        } catch {
            throw .badRequest("invalid JSON: \(error)")
        }
    }

    /// Decodes a request body, JSON or (with `headerLength`, the `Inference-Header-Content-Length`
    /// header's value) Triton's binary tensor data extension: a JSON header of that many bytes,
    /// then the raw data of each input whose parameters give `binary_data_size`, in input order.
    /// Every size is checked against the body before use; the binary data must be claimed whole.
    public static func decode(_ body: [UInt8], headerLength: String?) throws(RequestError) -> InferenceRequest {
        let missingHeader = RequestError.badRequest(
            "the request has binary tensor data (binary_data_size) but no Inference-Header-Content-Length header; send that header with the length of the JSON part"
        )
        guard let headerLength else {
            let request: InferenceRequest
            do {
                request = try decode(Data(body))
            } catch {
                // JSON followed by binary data: no header says where the JSON ends.
                if body.first == UInt8(ascii: "{"), body.containsSubsequence(Array("binary_data_size".utf8)) { throw missingHeader }
                throw error
            }
            // JSON alone, whose inputs announce binary data that nothing locates.
            for input in request.inputs where try input.binaryDataSize() != nil { throw missingHeader }
            return request
        }
        guard let length = Int(headerLength.trimmingCharacters(in: .whitespaces)), length >= 0 else {
            throw .badRequest("Inference-Header-Content-Length must be a byte count, got \"\(headerLength.prefix(40))\"")
        }
        guard length <= body.count else {
            throw .badRequest("Inference-Header-Content-Length is \(length), but the body has only \(body.count) bytes")
        }
        var request = try decode(Data(body[..<length]))
        var offset = length
        for index in request.inputs.indices {
            guard let size = try request.inputs[index].binaryDataSize() else { continue }
            guard size <= body.count - offset else {
                throw .badRequest(
                    "input \"\(request.inputs[index].name)\" has binary_data_size \(size), but only \(body.count - offset) bytes of binary data are left in the body"
                )
            }
            request.inputs[index].binary = Array(body[offset..<(offset + size)])
            offset += size
        }
        guard offset == body.count else {
            throw .badRequest("\(body.count - offset) bytes of binary data follow the JSON header that no input claims (binary_data_size)")
        }
        return request
    }

    /// Whether the response should carry output `name` as binary data: asked per output
    /// (`parameters.binary_data`) or for all (`parameters.binary_data_output`).
    public func wantsBinary(_ output: RequestedOutput?) -> Bool {
        if let flag = output?.parameters?["binary_data"]?.bool { return flag }
        return parameters?["binary_data_output"]?.bool ?? false
    }
}

extension [UInt8] {
    fileprivate func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// What an FP32 input must look like for one model: `[N, channels, H, W]` with H and W in
/// `minimumSize...maximumSize` (every served architecture is fully convolutional with global
/// pooling, so any size it can take is accepted, square or not) and N at most `maxBatch`.
public struct InputRequirements: Sendable, Equatable {
    public var channels: Int
    public var minimumSize: Int
    public var maximumSize: Int
    public var maxBatch: Int

    public init(channels: Int, minimumSize: Int, maximumSize: Int, maxBatch: Int) {
        self.channels = channels
        self.minimumSize = minimumSize
        self.maximumSize = maximumSize
        self.maxBatch = maxBatch
    }
}

public struct InferenceInput: Decodable, Sendable {
    public var name: String
    public var shape: [Int]
    public var datatype: String
    /// The values as JSON; nil for an input sent as binary data.
    public var data: TensorData?
    public var parameters: [String: JSONScalar]?
    /// The input's raw bytes, for an input sent as binary data (`InferenceRequest.decode(_:headerLength:)`)
    /// or as gRPC's `raw_input_contents`.
    public var binary: [UInt8]?
    /// Typed values of a gRPC request: `contents.fp32_contents` (FP32) or `contents.bytes_contents`
    /// (BYTES, one element each).
    public var floats: [Float]?
    public var elements: [[UInt8]]?

    private enum CodingKeys: String, CodingKey { case name, shape, datatype, data, parameters }

    public init(name: String, shape: [Int], datatype: String, binary: [UInt8]? = nil, floats: [Float]? = nil, elements: [[UInt8]]? = nil) {
        (self.name, self.shape, self.datatype) = (name, shape, datatype)
        (self.binary, self.floats, self.elements) = (binary, floats, elements)
    }

    /// `parameters.binary_data_size`, checked: nil when absent; a 400 when it is not a byte count
    /// or the input also has `data`.
    func binaryDataSize() throws(RequestError) -> Int? {
        guard let parameter = parameters?["binary_data_size"] else { return nil }
        guard let size = parameter.integer, size >= 0 else {
            throw .badRequest("input \"\(name)\": parameters.binary_data_size must be a byte count")
        }
        guard data == nil else {
            throw .badRequest("input \"\(name)\" has both data and binary_data_size; send one of them")
        }
        return size
    }

    /// The FP32 input as a `[N, C, H, W]` tensor that meets `requirements`; every value finite
    /// in float32. The values come from `data` (flat or nested numbers) or, for an input sent as
    /// binary data, little-endian from its bytes.
    public func tensor(_ requirements: InputRequirements) throws(RequestError) -> Tensor {
        let r = requirements
        let expectedShape = "[N, \(r.channels), H, W] (N >= 1; H and W from \(r.minimumSize) to \(r.maximumSize))"
        guard shape.count == 4, shape[0] >= 1, shape[1] == r.channels, shape[2] >= 1, shape[3] >= 1 else {
            throw .badRequest("input \"\(name)\" must have shape \(expectedShape), got \(shape)")
        }
        // The shape must describe the data sent (which the body limit bounds) before any other
        // use: a product that overflows is a shape that lies, not a large request.
        let count = checkedElementCount(shape)
        let holds = count.map { "holds \($0) values" } ?? "holds more values than can be counted"
        let values: [Double]?
        if let floats {
            guard floats.count == count else {
                throw .badRequest("input \"\(name)\" has shape \(shape), which \(holds), but its contents have \(floats.count) fp32 values")
            }
            values = nil
        } else if let binary {
            let bytes = count?.multipliedReportingOverflow(by: 4)
            guard let bytes, !bytes.overflow, binary.count == bytes.partialValue else {
                throw .badRequest(
                    "input \"\(name)\" has shape \(shape), which \(holds) (4 bytes each), but its binary data has \(binary.count) bytes")
            }
            values = nil
        } else {
            guard let data else { throw .badRequest("input \"\(name)\" has no data (and no binary_data_size)") }
            guard let numbers = data.numbers else {
                throw .badRequest("input \"\(name)\" is FP32 but its data holds strings; send numbers, flat (row-major) or nested")
            }
            guard numbers.count == count else {
                throw .badRequest("input \"\(name)\" has shape \(shape), which \(holds), but its data has \(numbers.count)")
            }
            values = numbers
        }
        guard shape[0] <= r.maxBatch else {
            throw .tooLarge("input \"\(name)\" has a batch of \(shape[0]); send at most \(r.maxBatch) per request")
        }
        guard shape[2] >= r.minimumSize, shape[3] >= r.minimumSize else {
            throw .badRequest("input \"\(name)\" is \(shape[2])x\(shape[3]); this model needs H and W of at least \(r.minimumSize)")
        }
        guard shape[2] <= r.maximumSize, shape[3] <= r.maximumSize else {
            throw .badRequest("input \"\(name)\" is \(shape[2])x\(shape[3]); H and W may be at most \(r.maximumSize)")
        }
        let storage: [Float]
        if let values {
            let limit = Double(Float.greatestFiniteMagnitude)
            if let bad = values.firstIndex(where: { !($0.magnitude <= limit) }) {
                throw .badRequest(
                    "input \"\(name)\": data[\(bad)] = \(values[bad]) is not a finite float32 value (at most \(Float.greatestFiniteMagnitude) in magnitude)"
                )
            }
            storage = values.map { Float($0) }
        } else if let floats {
            if let bad = floats.firstIndex(where: { !$0.isFinite }) {
                throw .badRequest("input \"\(name)\": value \(bad) of its contents is \(floats[bad]), not a finite float32 value")
            }
            storage = floats
        } else {
            storage = (binary ?? []).withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            if let bad = storage.firstIndex(where: { !$0.isFinite }) {
                throw .badRequest("input \"\(name)\": value \(bad) of its binary data is \(storage[bad]), not a finite float32 value")
            }
        }
        return Tensor(shape: shape, storage: storage)
    }

    /// The BYTES input as encoded images: one per base64 string of `data`, or one per element
    /// of the binary data (each a 4-byte little-endian length and its bytes); at most `maxImages`.
    public func encodedImages(maxImages: Int) throws(RequestError) -> [UploadedImage] {
        func checkCount(_ count: Int) throws(RequestError) {
            guard count > 0 else { throw .badRequest("input \"\(name)\" is BYTES but holds no image") }
            guard checkedElementCount(shape) == count else {
                throw .badRequest("input \"\(name)\" has shape \(shape) but \(count) image(s) in data; use shape [\(count)]")
            }
            guard count <= maxImages else {
                throw .tooLarge("\(count) images in one request; send at most \(maxImages) per request")
            }
        }
        var elements = elements
        if elements == nil, let binary { elements = try Self.byteElements(binary, input: name) }
        if let elements {
            try checkCount(elements.count)
            return elements.enumerated().map { UploadedImage(filename: "data[\($0.offset)]", bytes: $0.element) }
        }
        guard let strings = data?.strings, !strings.isEmpty else {
            throw .badRequest("input \"\(name)\" is BYTES: its data must be a list of base64-encoded images")
        }
        try checkCount(strings.count)
        var images: [UploadedImage] = []
        for (index, text) in strings.enumerated() {
            guard let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw .badRequest("input \"\(name)\": data[\(index)] is not valid base64")
            }
            images.append(UploadedImage(filename: "data[\(index)]", bytes: [UInt8](bytes)))
        }
        return images
    }

    /// The elements of binary BYTES data: each a 4-byte little-endian length, then that many bytes.
    static func byteElements(_ binary: [UInt8], input: String) throws(RequestError) -> [[UInt8]] {
        var elements: [[UInt8]] = []
        var offset = 0
        while offset < binary.count {
            guard binary.count - offset >= 4 else {
                throw .badRequest("input \"\(input)\": the binary BYTES data ends inside the length of element \(elements.count)")
            }
            let length = binary.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            offset += 4
            guard length <= binary.count - offset else {
                throw .badRequest(
                    "input \"\(input)\": element \(elements.count) of the binary BYTES data says \(length) bytes, \(binary.count - offset) are left")
            }
            elements.append(Array(binary[offset..<(offset + length)]))
            offset += length
        }
        return elements
    }
}

/// An input's `data`: numbers or strings, flat or nested to any depth (flattened row-major).
public struct TensorData: Decodable, Sendable {
    private enum Values {
        case numbers([Double])
        case strings([String])
        case nested([TensorData])
    }

    private let values: Values

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let numbers = try? container.decode([Double].self) {
            values = .numbers(numbers)
        } else if let strings = try? container.decode([String].self) {
            values = .strings(strings)
        } else if let nested = try? container.decode([TensorData].self) {
            values = .nested(nested)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\"data\" must be an array of numbers (FP32) or of base64 strings (BYTES), flat or nested")
        }
    }

    /// Every number, row-major; nil when there are strings.
    public var numbers: [Double]? {
        flattened { values in
            if case let .numbers(numbers) = values { return numbers }
            return nil
        }
    }

    /// Every string, in order; nil when there are numbers. (`[]` decodes as numbers.)
    public var strings: [String]? {
        flattened { values in
            switch values {
            case let .strings(strings): strings
            case let .numbers(numbers): numbers.isEmpty ? [] : nil
            case .nested: nil
            }
        }
    }

    private func flattened<Element>(_ leaf: (Values) -> [Element]?) -> [Element]? {
        guard case let .nested(children) = values else { return leaf(values) }
        var all: [Element] = []
        for child in children {
            guard let elements = child.flattened(leaf) else { return nil }
            all += elements
        }
        return all
    }
}

public struct RequestedOutput: Decodable, Sendable {
    public var name: String
    public var parameters: [String: JSONScalar]?

    public init(name: String) {
        self.name = name
    }
}

/// A parameter value: the protocol allows a string, a number or a boolean.
public enum JSONScalar: Decodable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    /// The value as a boolean: `true`/`false`, or the strings "true"/"false".
    public var bool: Bool? {
        switch self {
        case let .bool(value): value
        case let .string(text): text == "true" ? true : text == "false" ? false : nil
        case .number: nil
        }
    }

    /// The value as an integer, from a whole number or a decimal string ("3"); nil beyond `Int`.
    public var integer: Int? {
        switch self {
        case let .number(value): Int(exactly: value)
        case let .string(text): Int(text)
        case .bool: nil
        }
    }
}

extension RequestError {
    /// A 400 naming where in the document decoding failed, in one line instead of `DecodingError`'s dump.
    public init(invalidJSON error: DecodingError) {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "" : " at \(keys.hasPrefix(".") ? String(keys.dropFirst()) : keys)"
        }
        let detail: String
        switch error {
        case let .keyNotFound(key, context):
            detail = "missing field \"\(key.stringValue)\"\(path(context))"
        case let .typeMismatch(type, context):
            detail = "expected \(type)\(path(context))"
        case let .valueNotFound(type, context):
            detail = "expected \(type)\(path(context)), found null"
        case let .dataCorrupted(context):
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            detail = (underlying ?? context.debugDescription) + path(context)
        @unknown default:
            detail = "\(error)"
        }
        self.init(status: 400, "invalid JSON: \(detail)")
    }
}
