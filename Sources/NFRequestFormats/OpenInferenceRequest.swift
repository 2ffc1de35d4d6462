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

    /// Decodes a request body; malformed JSON or a document of the wrong shape is a 400 that
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
    public var data: TensorData

    /// The FP32 input as a `[N, C, H, W]` tensor that meets `requirements`; every value finite
    /// in float32.
    public func tensor(_ requirements: InputRequirements) throws(RequestError) -> Tensor {
        let r = requirements
        let expectedShape = "[N, \(r.channels), H, W] (N >= 1; H and W from \(r.minimumSize) to \(r.maximumSize))"
        guard shape.count == 4, shape[0] >= 1, shape[1] == r.channels, shape[2] >= 1, shape[3] >= 1 else {
            throw .badRequest("input \"\(name)\" must have shape \(expectedShape), got \(shape)")
        }
        guard let values = data.numbers else {
            throw .badRequest("input \"\(name)\" is FP32 but its data holds strings; send numbers, flat (row-major) or nested")
        }
        // The shape must describe the data sent (which the body limit bounds) before any other
        // use: a product that overflows is a shape that lies, not a large request.
        guard let expected = checkedElementCount(shape), values.count == expected else {
            let holds = checkedElementCount(shape).map { "holds \($0) values" } ?? "holds more values than can be counted"
            throw .badRequest("input \"\(name)\" has shape \(shape), which \(holds), but its data has \(values.count)")
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
        let limit = Double(Float.greatestFiniteMagnitude)
        if let bad = values.firstIndex(where: { !($0.magnitude <= limit) }) {
            throw .badRequest(
                "input \"\(name)\": data[\(bad)] = \(values[bad]) is not a finite float32 value (at most \(Float.greatestFiniteMagnitude) in magnitude)"
            )
        }
        return Tensor(shape: shape, storage: values.map { Float($0) })
    }

    /// The BYTES input as encoded images, one per base64 string; at most `maxImages`.
    public func encodedImages(maxImages: Int) throws(RequestError) -> [UploadedImage] {
        guard let strings = data.strings, !strings.isEmpty else {
            throw .badRequest("input \"\(name)\" is BYTES: its data must be a list of base64-encoded images")
        }
        guard checkedElementCount(shape) == strings.count else {
            throw .badRequest("input \"\(name)\" has shape \(shape) but \(strings.count) image(s) in data; use shape [\(strings.count)]")
        }
        guard strings.count <= maxImages else {
            throw .tooLarge("\(strings.count) images in one request; send at most \(maxImages) per request")
        }
        var images: [UploadedImage] = []
        for (index, text) in strings.enumerated() {
            guard let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw .badRequest("input \"\(name)\": data[\(index)] is not valid base64")
            }
            images.append(UploadedImage(filename: "data[\(index)]", bytes: [UInt8](bytes)))
        }
        return images
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
