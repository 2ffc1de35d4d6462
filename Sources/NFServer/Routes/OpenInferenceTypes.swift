import Foundation
import HTTPTypes
import Hummingbird
import NFPipeline
import NFRequestFormats
import NFServing
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
            case let .unloaded(why): (state, reason) = ("UNAVAILABLE", why)
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

    init(_ model: ModelPipeline) {
        name = model.name
        versions = [OpenInferenceRoutes.modelVersion]
        platform = "nfserve"
        // Batch, height and width are free: every served architecture is fully convolutional
        // with global pooling (the smallest H and W it takes are in the 400 for a smaller one).
        inputs = [TensorMetadata(name: "input", datatype: "FP32", shape: [-1, model.inputSize[0], -1, -1])]
        outputs = ["logits", "probabilities"].map { TensorMetadata(name: $0, datatype: "FP32", shape: [-1, model.numClasses]) }
    }
}

extension RequestedOutput {
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
                    throw APIError.badRequest(
                        "output \"\(request.name)\": parameters.classification must be a positive integer (the number of classes to return)")
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
                let rows = ModelPipeline.ranked(values, k: k)
                let strings = rows.flatMap { row in row.map { "\($0.value):\($0.index):\(labels[$0.index])" } }
                return InferenceOutput(name: name, datatype: "BYTES", shape: [rows.count, k], data: .strings(strings))
            }
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

        /// The length of `bytes`, without building them.
        var byteCount: Int {
            switch self {
            case let .numbers(values): values.count * 4
            case let .strings(values): values.reduce(0) { $0 + 4 + $1.utf8.count }
            }
        }

        /// The values as binary tensor data: FP32 little-endian; each BYTES element as a 4-byte
        /// little-endian length and its UTF-8 bytes.
        var bytes: [UInt8] {
            var bytes: [UInt8] = []
            switch self {
            case let .numbers(values):
                bytes.reserveCapacity(values.count * 4)
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
            case let .strings(values):
                for value in values {
                    let utf8 = Array(value.utf8)
                    withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes += $0 }
                    bytes += utf8
                }
            }
            return bytes
        }
    }

    let name: String
    let datatype: String
    let shape: [Int]
    let data: Values
    /// Sent as binary data after the JSON header (`parameters.binary_data_size`) instead of `data`.
    var binary = false

    init(name: String, datatype: String, shape: [Int], data: Values) {
        (self.name, self.datatype, self.shape, self.data) = (name, datatype, shape, data)
    }

    private enum CodingKeys: String, CodingKey { case name, datatype, shape, data, parameters }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(datatype, forKey: .datatype)
        try container.encode(shape, forKey: .shape)
        if binary {
            try container.encode(["binary_data_size": data.byteCount], forKey: .parameters)
        } else {
            try container.encode(data, forKey: .data)
        }
    }
}

extension HTTPField.Name {
    /// Triton's binary tensor data extension: the length of the JSON part of a body.
    static let inferenceHeaderContentLength = Self("Inference-Header-Content-Length")!
}

struct InferenceResponse: ResponseGenerator, Encodable {
    let modelName: String
    let modelVersion: String
    let id: String?
    let outputs: [InferenceOutput]

    /// JSON; or, when an output is binary, the JSON header followed by the binary outputs' bytes
    /// in output order, with `Inference-Header-Content-Length` giving the header's length.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        let header = try JSONEncoder.api.encode(self)
        guard outputs.contains(where: \.binary) else {
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: header)))
        }
        var body = ByteBuffer(bytes: header)
        for output in outputs where output.binary { body.writeBytes(output.data.bytes) }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", .inferenceHeaderContentLength: String(header.count)],
            body: .init(byteBuffer: body))
    }

    private enum CodingKeys: String, CodingKey {
        case modelName = "model_name", modelVersion = "model_version", id, outputs
    }
}
