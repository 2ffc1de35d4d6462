import Hummingbird
import NFModels
import NFServing

/// `GET /models` and `GET /models/{model}`: every model folder with its status, and for the
/// loaded ones what they are and cost.
struct ModelRoutes: Sendable {
    let store: ModelStore
    /// Each model's batching and scheduling, and its recent queue and pass times.
    let batchers: DynamicBatchers

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/models", method: .get, table: routes) { _, _ in
            ModelList(models: store.entries.map { ModelSummary($0, withLabels: false, batchers: batchers) })
        }
        router.on("/models/{model}", method: .get, table: routes) { _, context in
            let name = try context.parameters.require("model")
            guard let entry = store.entry(named: name) else {
                throw ServingError.unknownModel(name, known: store.entries.map(\.name))
            }
            return ModelSummary(entry, withLabels: true, batchers: batchers)
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
    /// How it is batched and scheduled (its flags, else its nfserve.json, else the defaults).
    var serving: Serving?
    /// Its recent queue and pass times.
    var timing: Timing?
    var error: String?

    struct Serving: Encodable {
        let maxBatchSize: Int
        let maxBatchDelayMs: Double
        let priority: Int
        let latencyTargetMs: Double
        /// fp32, bf16 or int8: what unobserved passes run in (observed ones run FP32).
        let precision: String
        /// A bf16 model's convolutions kept in FP32.
        let bf16: BFloat16Details?
        /// An int8 model's calibration, and the convolutions it keeps in FP32.
        let int8: Int8Details?

        struct BFloat16Details: Encodable {
            let keptInFP32: [KeptInFP32]

            private enum CodingKeys: String, CodingKey {
                case keptInFP32 = "kept_in_fp32"
            }
        }

        struct Int8Details: Encodable {
            let calibration: Calibration
            let keptInFP32: [KeptInFP32]

            struct Calibration: Encodable {
                let method: String
                let dataset: String
                let images: Int
            }

            private enum CodingKeys: String, CodingKey {
                case calibration, keptInFP32 = "kept_in_fp32"
            }
        }

        private enum CodingKeys: String, CodingKey {
            case maxBatchSize = "max_batch_size", maxBatchDelayMs = "max_batch_delay_ms", priority
            case latencyTargetMs = "latency_target_ms", precision, bf16, int8
        }
    }

    struct Timing: Encodable {
        /// How many of the latest requests and passes the percentiles cover (at most).
        let window: Int
        /// From admission (before decoding) to the start of the request's pass; null before any.
        let queueMs: Times?
        /// A pass's own time (without other models' passes run between its steps).
        let passMs: Times?

        struct Times: Encodable {
            let count: Int
            let p50: Double
            let p99: Double
            let mean: Double
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(window, forKey: .window)
            try container.encode(queueMs, forKey: .queueMs)
            try container.encode(passMs, forKey: .passMs)
        }

        private enum CodingKeys: String, CodingKey {
            case window, queueMs = "queue_ms", passMs = "pass_ms"
        }
    }

    init(_ entry: ModelStore.Entry, withLabels: Bool, batchers: DynamicBatchers) {
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
            let policy = batchers.policy(for: model), scheduling = batchers.scheduling(for: model)
            let bf16 = model.lowPrecision.flatMap { low in
                low.precision == .bf16 ? Serving.BFloat16Details(keptInFP32: low.plan.keptInFP32) : nil
            }
            let int8 = model.lowPrecision.flatMap { low in
                low.precision != .int8
                    ? nil
                    : low.calibration.map {
                        Serving.Int8Details(
                            calibration: .init(method: $0.method, dataset: $0.dataset, images: $0.images),
                            keptInFP32: low.plan.keptInFP32)
                    }
            }
            serving = Serving(
                maxBatchSize: policy.maxBatchSize, maxBatchDelayMs: policy.maxDelay.milliseconds,
                priority: scheduling.priority, latencyTargetMs: scheduling.latencyTarget.milliseconds,
                precision: model.precision.rawValue, bf16: bf16, int8: int8)
            let recent = batchers.timings.summary(model: entry.name)
            func times(_ summary: ModelTimings.Summary?) -> Timing.Times? {
                summary.map { Timing.Times(count: $0.count, p50: $0.p50, p99: $0.p99, mean: $0.mean) }
            }
            timing = Timing(window: batchers.timings.window, queueMs: times(recent.queue), passMs: times(recent.pass))
        }
    }

    private enum CodingKeys: String, CodingKey {
        case name, status, architecture, numClasses = "num_classes", inputSize = "input_size"
        case normalization, parameters, flops, labels, error
        case batchnormStatistics = "batchnorm_statistics"
        case serving, timing
    }
}
