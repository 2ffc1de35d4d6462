import Foundation
import Hummingbird
import NFOpenInference
import NFPipeline
import NFRequestFormats
import NFServing

/// The Open Inference Protocol v2 (KServe, Triton): server and model health and metadata, and
/// `infer` with a preprocessed FP32 tensor or base64-encoded images.
/// https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
struct OpenInferenceRoutes: Sendable {
    let store: ModelStore
    let openInference: OpenInference
    let lifecycle: ServerLifecycle
    let maxBodyBytes: Int

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/v2", method: .get, table: routes) { _, _ in
            ServerMetadata(name: "nfserve", version: nfserveVersion, extensions: openInferenceExtensions)
        }
        router.on("/v2/health/live", method: .get, table: routes) { _, _ in Liveness(live: true) }
        router.on("/v2/health/ready", method: .get, table: routes) { _, _ in
            // Ready once every folder was tried, until shutdown begins.
            let ready = store.isReady && !lifecycle.isDraining
            return EditedResponse(status: ready ? .ok : .serviceUnavailable, response: Readiness(ready: ready))
        }
        router.on("/v2/models", method: .get, table: routes) { _, _ in
            ModelIndex(models: store.entries.map(ModelIndexEntry.init))
        }
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            router.on(prefix, method: .get, table: routes) { _, context in
                ModelMetadata(ModelDescription(try model(context)))
            }
            router.on(prefix + "/ready", method: .get, table: routes) { _, context in
                let name = try context.parameters.require("model")
                try version(context)
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
                let result = try await ConnectionWatch(context.channel).cancellingIfClientLeaves {
                    try await openInference.infer(inferenceRequest, model: model)
                }
                return try InferenceResponse(result).response(from: request, context: context)
            }
        }
    }

    private func model(_ context: ServerRequestContext) throws -> ModelPipeline {
        try version(context)
        return try store.servedModel(named: try context.parameters.require("model"))
    }

    /// `/v2/models/{model}/versions/1/...` are the same routes as without the version.
    private func version(_ context: ServerRequestContext) throws {
        try OpenInference.checkVersion(context.parameters.get("version"), model: context.parameters.get("model") ?? "")
    }
}
