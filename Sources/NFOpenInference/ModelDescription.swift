import NFPipeline
import NFServing

/// A tensor a model takes or gives: name, datatype and shape (-1 for a dimension of any size).
public struct TensorDescription: Sendable, Equatable {
    public let name: String
    public let datatype: String
    public let shape: [Int]
}

/// A model's metadata in the protocol, shared by `GET /v2/models/{m}` and gRPC's `ModelMetadata`:
/// one input, the preprocessed batch; two outputs.
public struct ModelDescription: Sendable {
    public let name: String
    public let versions: [String]
    public let platform: String
    public let inputs: [TensorDescription]
    public let outputs: [TensorDescription]

    public init(_ model: ModelPipeline) {
        name = model.name
        versions = [OpenInference.modelVersion]
        platform = "nfserve"
        // Batch, height and width are free: every served architecture is fully convolutional
        // with global pooling (the smallest H and W it takes are in the 400 for a smaller one).
        inputs = [TensorDescription(name: "input", datatype: "FP32", shape: [-1, model.inputSize[0], -1, -1])]
        outputs = ["logits", "probabilities"].map { TensorDescription(name: $0, datatype: "FP32", shape: [-1, model.numClasses]) }
    }
}

/// A model's line in the repository index (Triton's): name, version, state READY, LOADING or
/// UNAVAILABLE, and why it is unavailable.
public struct ModelIndexEntry: Sendable {
    public let name: String
    public let version: String
    public let state: String
    public let reason: String?

    public init(_ entry: ModelStore.Entry) {
        name = entry.name
        version = OpenInference.modelVersion
        switch entry.status {
        case .ready: (state, reason) = ("READY", nil)
        case .loading: (state, reason) = ("LOADING", nil)
        case let .failed(error): (state, reason) = ("UNAVAILABLE", error)
        case let .unloaded(why): (state, reason) = ("UNAVAILABLE", why)
        }
    }
}

/// The protocol extensions nfserve speaks, in `GET /v2` and gRPC's `ServerMetadata`.
public let openInferenceExtensions = ["classification", "binary_tensor_data", "model_repository"]
