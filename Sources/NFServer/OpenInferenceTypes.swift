import Foundation
import Hummingbird
import NFTensors

// The JSON documents of the Open Inference Protocol v2 REST API, as nfserve serves them.

struct ServerMetadata: ResponseEncodable {
    let name: String
    let version: String
    let extensions: [String]
}

struct Liveness: ResponseEncodable { let live: Bool }
struct Readiness: ResponseEncodable { let ready: Bool }
struct ModelReadiness: ResponseEncodable {
    let name: String
    let ready: Bool
}

/// `GET /v2/models`: the protocol has no list, so this follows Triton's repository index
/// (`POST /v2/repository/index`): name, version, state READY / LOADING / UNAVAILABLE, reason.
struct ModelIndex: ResponseEncodable {
    struct Entry: Encodable {
        let name: String
        let version: String
        let state: String
        let reason: String?

        init(_ entry: ModelStore.Entry) {
            name = entry.name
            version = OpenInferenceRoutes.modelVersion
            switch entry.status {
            case .ready: (state, reason) = ("READY", nil)
            case .loading: (state, reason) = ("LOADING", nil)
            case let .failed(error): (state, reason) = ("UNAVAILABLE", error)
            }
        }
    }

    let models: [Entry]
}

struct TensorMetadata: Encodable {
    let name: String
    let datatype: String
    let shape: [Int]
}

/// `GET /v2/models/{model}`: one input, the preprocessed batch; two outputs.
struct ModelMetadata: ResponseEncodable {
    let name: String
    let versions: [String]
    let platform: String
    let inputs: [TensorMetadata]
    let outputs: [TensorMetadata]

    init(_ model: ServedModel) {
        name = model.name
        versions = [OpenInferenceRoutes.modelVersion]
        platform = "nfserve"
        inputs = [TensorMetadata(name: "input", datatype: "FP32", shape: [-1] + model.inputSize)]
        outputs = ["logits", "probabilities"].map { TensorMetadata(name: $0, datatype: "FP32", shape: [-1, model.numClasses]) }
    }
}

struct InferenceRequest: Decodable {
    var id: String?
    var inputs: [InferenceInput]
    var outputs: [RequestedOutput]?
}

struct InferenceInput: Decodable {
    var name: String
    var shape: [Int]
    var datatype: String
    var data: TensorData

    /// The FP32 input as a `[N, C, H, W]` tensor with `[C, H, W] == inputSize`.
    func tensor(expecting inputSize: [Int]) throws -> Tensor {
        guard shape.count == 4, shape[0] >= 1, Array(shape[1...]) == inputSize else {
            throw APIError.badRequest("input \"\(name)\" must have shape [N, \(inputSize.map(String.init).joined(separator: ", "))] (N >= 1; the model's input_size), got \(shape)")
        }
        guard let values = data.numbers else {
            throw APIError.badRequest("input \"\(name)\" is FP32 but its data holds strings; send numbers, flat (row-major) or nested")
        }
        let expected = shape.reduce(1, *)
        guard values.count == expected else {
            throw APIError.badRequest("input \"\(name)\" has shape \(shape), which holds \(expected) values, but its data has \(values.count)")
        }
        return Tensor(shape: shape, storage: values.map { Float($0) })
    }

    /// The BYTES input as encoded images, one per base64 string.
    func encodedImages() throws -> [UploadedImage] {
        guard let strings = data.strings, !strings.isEmpty else {
            throw APIError.badRequest("input \"\(name)\" is BYTES: its data must be a list of base64-encoded images")
        }
        guard shape.reduce(1, *) == strings.count else {
            throw APIError.badRequest("input \"\(name)\" has shape \(shape) but \(strings.count) image(s) in data; use shape [\(strings.count)]")
        }
        return try strings.enumerated().map { index, text in
            guard let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw APIError.badRequest("input \"\(name)\": data[\(index)] is not valid base64")
            }
            return UploadedImage(filename: "data[\(index)]", bytes: [UInt8](bytes))
        }
    }
}

/// An input's `data`: numbers or strings, flat or nested to any depth (flattened row-major).
struct TensorData: Decodable {
    private enum Values {
        case numbers([Double])
        case strings([String])
        case nested([TensorData])
    }

    private let values: Values

    init(from decoder: any Decoder) throws {
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
    var numbers: [Double]? {
        flattened { values in
            if case let .numbers(numbers) = values { return numbers }
            return nil
        }
    }

    /// Every string, in order; nil when there are numbers. (`[]` decodes as numbers.)
    var strings: [String]? {
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

struct RequestedOutput: Decodable {
    var name: String
    var parameters: [String: JSONScalar]?

    init(name: String) {
        self.name = name
    }

    /// What to answer for one requested output.
    enum Kind {
        case logits
        case probabilities
        /// Triton's classification extension: the top `k` of `probabilities` (or `logits`) as
        /// BYTES strings `"<value>:<index>:<label>"`, best first.
        case classification(name: String, fromProbabilities: Bool, k: Int)

        init(_ request: RequestedOutput, numClasses: Int) throws {
            guard request.name == "logits" || request.name == "probabilities" else {
                throw APIError.badRequest("unknown output \"\(request.name)\"; the model's outputs are \"logits\" and \"probabilities\"")
            }
            if let parameter = request.parameters?["classification"] {
                guard let k = parameter.integer, k >= 1 else {
                    throw APIError.badRequest("output \"\(request.name)\": parameters.classification must be a positive integer (the number of classes to return)")
                }
                self = .classification(name: request.name, fromProbabilities: request.name == "probabilities", k: min(k, numClasses))
            } else {
                self = request.name == "logits" ? .logits : .probabilities
            }
        }

        var needsProbabilities: Bool {
            switch self {
            case .logits: false
            case .probabilities: true
            case let .classification(_, fromProbabilities, _): fromProbabilities
            }
        }

        func output(logits: Tensor, probabilities: Tensor?, labels: [String]) -> InferenceOutput {
            switch self {
            case .logits:
                return InferenceOutput(name: "logits", datatype: "FP32", shape: logits.shape, data: .numbers(logits.storage))
            case .probabilities:
                let values = probabilities!
                return InferenceOutput(name: "probabilities", datatype: "FP32", shape: values.shape, data: .numbers(values.storage))
            case let .classification(name, fromProbabilities, k):
                let values = fromProbabilities ? probabilities! : logits
                let rows = ServedModel.ranked(values, k: k)
                let strings = rows.flatMap { row in row.map { "\($0.value):\($0.index):\(labels[$0.index])" } }
                return InferenceOutput(name: name, datatype: "BYTES", shape: [rows.count, k], data: .strings(strings))
            }
        }
    }
}

/// A parameter value: the protocol allows a string, a number or a boolean.
enum JSONScalar: Decodable {
    case string(String)
    case number(Double)
    case bool(Bool)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    /// The value as an integer, from a whole number or a decimal string ("3").
    var integer: Int? {
        switch self {
        case let .number(value): Int(exactly: value)
        case let .string(text): Int(text)
        case .bool: nil
        }
    }
}

struct InferenceOutput: Encodable {
    enum Values: Encodable {
        case numbers([Float])
        case strings([String])

        func encode(to encoder: any Encoder) throws {
            switch self {
            case let .numbers(values): try values.encode(to: encoder)
            case let .strings(values): try values.encode(to: encoder)
            }
        }
    }

    let name: String
    let datatype: String
    let shape: [Int]
    let data: Values
}

struct InferenceResponse: ResponseEncodable {
    let modelName: String
    let modelVersion: String
    let id: String?
    let outputs: [InferenceOutput]

    private enum CodingKeys: String, CodingKey {
        case modelName = "model_name", modelVersion = "model_version", id, outputs
    }
}
