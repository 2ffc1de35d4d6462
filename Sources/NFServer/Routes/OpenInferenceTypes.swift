import Foundation
import HTTPTypes
import Hummingbird
import NFOpenInference

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
    let models: [ModelIndexEntry]
}

extension ModelIndexEntry: Encodable {
    private enum CodingKeys: String, CodingKey { case name, version, state, reason }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(version, forKey: .version)
        try container.encode(state, forKey: .state)
        try container.encodeIfPresent(reason, forKey: .reason)
    }
}

struct TensorMetadata: Encodable {
    let name: String
    let datatype: String
    let shape: [Int]
}

/// `GET /v2/models/{model}`.
struct ModelMetadata: ResponseEncodable {
    let name: String
    let versions: [String]
    let platform: String
    let inputs: [TensorMetadata]
    let outputs: [TensorMetadata]

    init(_ model: ModelDescription) {
        (name, versions, platform) = (model.name, model.versions, model.platform)
        inputs = model.inputs.map { TensorMetadata(name: $0.name, datatype: $0.datatype, shape: $0.shape) }
        outputs = model.outputs.map { TensorMetadata(name: $0.name, datatype: $0.datatype, shape: $0.shape) }
    }
}

/// One output in the response document: `data`, or `parameters.binary_data_size` when it is sent as
/// binary data after the JSON header.
struct InferenceOutput: Encodable {
    let tensor: OutputTensor

    private enum CodingKeys: String, CodingKey { case name, datatype, shape, data, parameters }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tensor.name, forKey: .name)
        try container.encode(tensor.datatype, forKey: .datatype)
        try container.encode(tensor.shape, forKey: .shape)
        if tensor.binary {
            try container.encode(["binary_data_size": tensor.values.byteCount], forKey: .parameters)
        } else {
            switch tensor.values {
            case let .numbers(values): try container.encode(values, forKey: .data)
            case let .strings(values): try container.encode(values, forKey: .data)
            }
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

    init(_ result: InferenceResult) {
        (modelName, modelVersion, id) = (result.modelName, result.modelVersion, result.id)
        outputs = result.outputs.map(InferenceOutput.init)
    }

    /// JSON; or, when an output is binary, the JSON header followed by the binary outputs' bytes
    /// in output order, with `Inference-Header-Content-Length` giving the header's length.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        let header = try JSONEncoder.api.encode(self)
        guard outputs.contains(where: \.tensor.binary) else {
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: header)))
        }
        var body = ByteBuffer(bytes: header)
        for output in outputs where output.tensor.binary { body.writeBytes(output.tensor.values.bytes) }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", .inferenceHeaderContentLength: String(header.count)],
            body: .init(byteBuffer: body))
    }

    private enum CodingKeys: String, CodingKey {
        case modelName = "model_name", modelVersion = "model_version", id, outputs
    }
}
