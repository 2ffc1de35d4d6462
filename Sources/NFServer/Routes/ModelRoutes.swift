import Hummingbird
import NFServing

/// `GET /models` and `GET /models/{model}`: every model folder with its status, and for the
/// loaded ones what they are and cost.
struct ModelRoutes: Sendable {
    let store: ModelStore

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/models", method: .get, table: routes) { _, _ in
            ModelList(models: store.entries.map { ModelSummary($0, withLabels: false) })
        }
        router.on("/models/{model}", method: .get, table: routes) { _, context in
            let name = try context.parameters.require("model")
            guard let entry = store.entry(named: name) else {
                throw ServingError.unknownModel(name, known: store.entries.map(\.name))
            }
            return ModelSummary(entry, withLabels: true)
        }
    }
}

struct ModelList: ResponseEncodable {
    let models: [ModelSummary]
}

/// A model as `/models` describes it; the fields other than `name` and `status` are present
/// once it is loaded (`labels` only for a single model: ImageNet's 1000 would swamp the list),
/// `error` once it failed.
struct ModelSummary: ResponseEncodable {
    let name: String
    let status: String
    var architecture: String?
    var numClasses: Int?
    /// `[C, H, W]` from `pretrained_cfg.input_size`.
    var inputSize: [Int]?
    /// batchnorm, groupnorm, mixed or normalizer-free.
    var normalization: String?
    var parameters: Int?
    /// Floating-point operations of one image at `inputSize` (2 per multiply-accumulate).
    var flops: Int?
    var labels: [String]?
    /// BatchNorm models: "checkpoint", or what the statistics in use were recalibrated on.
    var batchnormStatistics: String?
    var error: String?

    init(_ entry: ModelStore.Entry, withLabels: Bool) {
        name = entry.name
        status = entry.status.name
        switch entry.status {
        case .loading: break
        case let .failed(reason): error = reason
        case let .unloaded(reason): error = reason
        case let .ready(model):
            architecture = model.classifier.architecture
            numClasses = model.numClasses
            inputSize = model.inputSize
            normalization = model.classifier.normalizationKind.rawValue
            parameters = model.classifier.parameterCount
            flops = model.flops
            labels = withLabels ? model.labels : nil
            batchnormStatistics = model.classifier.batchNormLayers.isEmpty ? nil : entry.statistics
        }
    }

    private enum CodingKeys: String, CodingKey {
        case name, status, architecture, numClasses = "num_classes", inputSize = "input_size"
        case normalization, parameters, flops, labels, error
        case batchnormStatistics = "batchnorm_statistics"
    }
}
