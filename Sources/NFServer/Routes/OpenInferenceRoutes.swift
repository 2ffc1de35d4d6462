import Foundation
import Hummingbird
import NFPipeline
import NFRequestFormats
import NFServing
import NFTensors

/// The Open Inference Protocol v2 (KServe, Triton): server and model health and metadata, and
/// `infer` with a preprocessed FP32 tensor or base64-encoded images.
/// https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
struct OpenInferenceRoutes: Sendable {
    let store: ModelStore
    let inference: Inference
    let lifecycle: ServerLifecycle
    let maxBodyBytes: Int

    /// Every model has one version, "1"; `/v2/models/{model}/versions/1/...` are the same routes.
    static let modelVersion = "1"

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/v2", method: .get, table: routes) { _, _ in
            ServerMetadata(name: "nfserve", version: nfserveVersion, extensions: ["classification", "binary_tensor_data"])
        }
        router.on("/v2/health/live", method: .get, table: routes) { _, _ in Liveness(live: true) }
        router.on("/v2/health/ready", method: .get, table: routes) { _, _ in
            // Ready once every folder was tried, until shutdown begins.
            let ready = store.isReady && !lifecycle.isDraining
            return EditedResponse(status: ready ? .ok : .serviceUnavailable, response: Readiness(ready: ready))
        }
        router.on("/v2/models", method: .get, table: routes) { _, _ in
            ModelIndex(models: store.entries.map(ModelIndex.Entry.init))
        }
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            router.on(prefix, method: .get, table: routes) { _, context in
                ModelMetadata(try model(context))
            }
            router.on(prefix + "/ready", method: .get, table: routes) { _, context in
                let name = try context.parameters.require("model")
                _ = try version(context)
                guard let entry = store.entry(named: name) else {
                    throw ServingError.unknownModel(name, known: store.entries.map(\.name))
                }
                let ready = entry.model != nil
                return EditedResponse(status: ready ? .ok : .serviceUnavailable, response: ModelReadiness(name: name, ready: ready))
            }
            router.on(prefix + "/infer", method: .post, table: routes) { request, context in
                try request.checkDeclaredLength(limit: maxBodyBytes)
                let model = try model(context)
                let body = try await request.collectBody(limit: maxBodyBytes)
                let inferenceRequest = try InferenceRequest.decode(
                    Array(body.readableBytesView), headerLength: request.headers[.inferenceHeaderContentLength])
                let response = try await ConnectionWatch(context.channel).cancellingIfClientLeaves {
                    try await infer(inferenceRequest, model: model)
                }
                return try response.response(from: request, context: context)
            }
        }
    }

    private func model(_ context: ServerRequestContext) throws -> ModelPipeline {
        _ = try version(context)
        return try store.servedModel(named: try context.parameters.require("model"))
    }

    private func version(_ context: ServerRequestContext) throws -> String {
        guard let version = context.parameters.get("version") else { return Self.modelVersion }
        guard version == Self.modelVersion else {
            throw APIError(
                .notFound,
                "model \"\(context.parameters.get("model") ?? "")\" has no version \"\(version)\"; its only version is \"\(Self.modelVersion)\"")
        }
        return version
    }

    private func infer(_ request: InferenceRequest, model: ModelPipeline) async throws -> InferenceResponse {
        guard request.inputs.count == 1, let input = request.inputs.first else {
            throw APIError.badRequest("the model takes one input (\"input\"), the request has \(request.inputs.count)")
        }
        let requested = request.outputs ?? [.init(name: "logits")]
        let outputs = try requested.map { try RequestedOutput.Kind($0, numClasses: model.numClasses) }
        let logits: Tensor
        switch input.datatype {
        case "FP32":
            let tensor = try input.tensor(model.inputRequirements(maxBatch: Inference.maxImagesPerRequest))
            logits = try await inference.logits(model, input: tensor)
            try Self.requireFinite(logits, input: tensor)
        case "BYTES":
            logits = try await inference.logits(model, images: try input.encodedImages(maxImages: Inference.maxImagesPerRequest))
        default:
            throw APIError.badRequest(
                "input \"\(input.name)\" has datatype \"\(input.datatype)\"; send FP32 (a preprocessed [N, C, H, W] tensor) or BYTES (base64-encoded images)"
            )
        }
        let probabilities = outputs.contains { $0.needsProbabilities } ? softmax(logits) : nil
        return InferenceResponse(
            modelName: model.name, modelVersion: Self.modelVersion, id: request.id,
            outputs: zip(outputs, requested).map { kind, output in
                var answer = kind.output(logits: logits, probabilities: probabilities, labels: model.labels)
                answer.binary = request.wantsBinary(output)
                return answer
            })
    }

    /// Finite inputs can still overflow float32 inside the network (values near 3e38 were sent
    /// where normalized pixels belong): a 422 that says so, rather than NaN in the response.
    static func requireFinite(_ logits: Tensor, input: Tensor) throws {
        guard logits.storage.allSatisfy(\.isFinite) else {
            throw APIError(
                .unprocessableContent,
                "the model's logits are not finite for this input (its largest magnitude is \(input.maxAbs), which overflows float32 inside the network); send preprocessed, normalized values"
            )
        }
    }
}
