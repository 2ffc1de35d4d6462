import NFPipeline
import NFRequestFormats
import NFServing
import NFTensors

/// The Open Inference Protocol's `infer`, whatever carried the request: the one place where a
/// decoded request (JSON, JSON with binary tensor data, or gRPC's `ModelInferRequest`, all as an
/// `InferenceRequest`) becomes the pipeline's input, runs through the same admission, batching and
/// live monitoring (`Inference`), and becomes the requested outputs. The HTTP and gRPC fronts only
/// translate bytes to an `InferenceRequest` and an `InferenceResult` to bytes.
public struct OpenInference: Sendable {
    public let inference: Inference

    /// Every model has one version, "1".
    public static let modelVersion = "1"

    public init(inference: Inference) {
        self.inference = inference
    }

    /// Classifies the request's one input with `model`: an FP32 `[N, C, H, W]` tensor (typed values
    /// or raw little-endian bytes) or BYTES encoded images. Throws `RequestError` for what the client
    /// got wrong and `ServingError` for what the server refuses.
    public func infer(_ request: InferenceRequest, model: ModelPipeline) async throws -> InferenceResult {
        guard request.inputs.count == 1, let input = request.inputs.first else {
            throw RequestError.badRequest("the model takes one input (\"input\"), the request has \(request.inputs.count)")
        }
        let requested = request.outputs ?? [RequestedOutput(name: "logits")]
        let outputs = try requested.map { try OutputKind($0, numClasses: model.numClasses) }
        let logits: Tensor
        switch input.datatype {
        case "FP32":
            let tensor = try input.tensor(model.inputRequirements(maxBatch: Inference.maxImagesPerRequest))
            logits = try await inference.logits(model, input: tensor)
            try Self.requireFinite(logits, input: tensor)
        case "BYTES":
            logits = try await inference.logits(model, images: try input.encodedImages(maxImages: Inference.maxImagesPerRequest))
        default:
            throw RequestError.badRequest(
                "input \"\(input.name)\" has datatype \"\(input.datatype)\"; send FP32 (a preprocessed [N, C, H, W] tensor) or BYTES (base64-encoded images)"
            )
        }
        let probabilities = outputs.contains { $0.needsProbabilities } ? softmax(logits) : nil
        return InferenceResult(
            modelName: model.name, modelVersion: Self.modelVersion, id: request.id,
            outputs: zip(outputs, requested).map { kind, output in
                var answer = kind.output(logits: logits, probabilities: probabilities, labels: model.labels)
                answer.binary = request.wantsBinary(output)
                return answer
            })
    }

    /// Finite inputs can still overflow float32 inside the network (values near 3e38 were sent
    /// where normalized pixels belong): a 422 that says so, rather than NaN in the response.
    static func requireFinite(_ logits: Tensor, input: Tensor) throws(RequestError) {
        guard logits.storage.allSatisfy(\.isFinite) else {
            throw RequestError(
                status: 422,
                "the model's logits are not finite for this input (its largest magnitude is \(input.maxAbs), which overflows float32 inside the network); send preprocessed, normalized values"
            )
        }
    }

    /// A model version in a request: empty (the protocol's "let the server choose") or "1".
    public static func checkVersion(_ version: String?, model: String) throws(ServingError) {
        guard let version, !version.isEmpty, version != modelVersion else { return }
        throw ServingError(.unknownModel, "model \"\(model)\" has no version \"\(version)\"; its only version is \"\(modelVersion)\"")
    }
}

/// What `infer` answers: the requested outputs, in the order they were asked for.
public struct InferenceResult: Sendable {
    public let modelName: String
    public let modelVersion: String
    public let id: String?
    public let outputs: [OutputTensor]
}

/// One output tensor.
public struct OutputTensor: Sendable {
    public enum Values: Sendable, Equatable {
        case numbers([Float])
        case strings([String])

        /// The length of `bytes`, without building them.
        public var byteCount: Int {
            switch self {
            case let .numbers(values): values.count * 4
            case let .strings(values): values.reduce(0) { $0 + 4 + $1.utf8.count }
            }
        }

        /// The values as raw tensor data (HTTP's binary tensor data, gRPC's `raw_output_contents`):
        /// FP32 little-endian; each BYTES element as a 4-byte little-endian length and its UTF-8 bytes.
        public var bytes: [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(byteCount)
            switch self {
            case let .numbers(values):
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

    public let name: String
    public let datatype: String
    public let shape: [Int]
    public let values: Values
    /// Asked for as binary data (HTTP's binary tensor data extension).
    public var binary = false

    public init(name: String, datatype: String, shape: [Int], values: Values) {
        (self.name, self.datatype, self.shape, self.values) = (name, datatype, shape, values)
    }
}

/// What to answer for one requested output.
enum OutputKind {
    case logits
    case probabilities
    /// Triton's classification extension: the top `k` of `probabilities` (or `logits`) as
    /// BYTES strings `"<value>:<index>:<label>"`, best first.
    case classification(name: String, fromProbabilities: Bool, k: Int)

    init(_ request: RequestedOutput, numClasses: Int) throws(RequestError) {
        guard request.name == "logits" || request.name == "probabilities" else {
            throw .badRequest("unknown output \"\(request.name)\"; the model's outputs are \"logits\" and \"probabilities\"")
        }
        if let parameter = request.parameters?["classification"] {
            guard let k = parameter.integer, k >= 1 else {
                throw .badRequest(
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

    func output(logits: Tensor, probabilities: Tensor?, labels: [String]) -> OutputTensor {
        switch self {
        case .logits:
            return OutputTensor(name: "logits", datatype: "FP32", shape: logits.shape, values: .numbers(logits.storage))
        case .probabilities:
            let values = probabilities!
            return OutputTensor(name: "probabilities", datatype: "FP32", shape: values.shape, values: .numbers(values.storage))
        case let .classification(name, fromProbabilities, k):
            let values = fromProbabilities ? probabilities! : logits
            let rows = ModelPipeline.ranked(values, k: k)
            let strings = rows.flatMap { row in row.map { "\($0.value):\($0.index):\(labels[$0.index])" } }
            return OutputTensor(name: name, datatype: "BYTES", shape: [rows.count, k], values: .strings(strings))
        }
    }
}
