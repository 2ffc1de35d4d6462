import Hummingbird
import NFImage
import NFPipeline
import NFRequestFormats
import NFServing

/// TorchServe's prediction forms: `POST|PUT /predictions/{model}` and `POST|PUT /predict?model=`,
/// with a raw image body or multipart file parts, answered in docs/api.md's prediction response.
struct PredictionRoutes: Sendable {
    let store: ModelStore
    let inference: Inference
    let maxBodyBytes: Int

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        // `curl -T` sends PUT, `curl --data-binary` and `curl -F` send POST.
        // Both forms take both methods.
        for method in [HTTPRequest.Method.post, .put] {
            router.on("/predictions/{model}", method: method, table: routes) { request, context in
                try await predict(request, model: try context.parameters.require("model"), context: context)
            }
            router.on("/predict", method: method, table: routes) { request, context in
                try await predict(request, model: request.uri.queryParameters.get("model") ?? defaultModel(), context: context)
            }
        }
    }

    private func predict(_ request: Request, model name: String, context: ServerRequestContext) async throws -> PredictionResponse {
        try request.checkDeclaredLength(limit: maxBodyBytes)
        let model = try store.servedModel(named: name)
        let k = model.topK(try request.integerQuery("topk"))
        let images = try await request.uploadedImages(limit: maxBodyBytes)
        let logits = try await ConnectionWatch(context.channel).cancellingIfClientLeaves { [inference] in
            try await inference.logits(model, images: images)
        }
        return PredictionResponse(model: name, images: images, predictions: model.topPredictions(logits: logits, k: k))
    }

    /// The model `/predict` uses without `?model=`: the only model, else the only ready one.
    private func defaultModel() throws -> String {
        let entries = store.entries
        if entries.count == 1 { return entries[0].name }
        let ready = entries.filter { $0.model != nil }
        if ready.count == 1 { return ready[0].name }
        guard !entries.isEmpty else { throw ServingError.unknownModel("(default)", known: []) }
        throw APIError(
            .badRequest,
            "several models are served (\(entries.map(\.name).joined(separator: ", "))); choose one with /predict?model=NAME or POST /predictions/NAME"
        )
    }
}

/// `{"model", "predictions"}` for one image; `{"model", "results": [{"filename", "predictions"}]}`
/// for several, in the order of the parts.
public enum PredictionResponse: ResponseEncodable, Sendable {
    case single(model: String, predictions: [Prediction])
    case several(model: String, results: [FileResult])

    public struct FileResult: Encodable, Sendable {
        let filename: String?
        let predictions: [Prediction]

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(filename, forKey: .filename)  // null rather than absent
            try container.encode(predictions, forKey: .predictions)
        }

        private enum CodingKeys: String, CodingKey { case filename, predictions }
    }

    /// The single form for one image (raw body, or multipart with one file), else one result per image.
    public init(model: String, images: [UploadedImage], predictions: [[Prediction]]) {
        if images.count == 1 {
            self = .single(model: model, predictions: predictions[0])
        } else {
            self = .several(model: model, results: zip(images, predictions).map { .init(filename: $0.filename, predictions: $1) })
        }
    }

    private enum CodingKeys: String, CodingKey { case model, predictions, results }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .single(model, predictions):
            try container.encode(model, forKey: .model)
            try container.encode(predictions, forKey: .predictions)
        case let .several(model, results):
            try container.encode(model, forKey: .model)
            try container.encode(results, forKey: .results)
        }
    }
}
