import Foundation
import GRPCCore
import Logging
import NFOpenInference
import NFRequestFormats
import NFServing

/// KServe's v2 `GRPCInferenceService` over the serving layer: it only translates. Messages become
/// the `InferenceRequest` the HTTP routes decode (`InferenceRequest.init(_:)`), `OpenInference`
/// runs them through the same admission, batching and live monitoring as HTTP, and errors become
/// status codes in one place (`RPCError(mapping:)`). The repository RPCs need the admin token
/// (`AdminTokenInterceptor`).
struct InferenceService: Inference_GRPCInferenceService.SimpleServiceProtocol {
    let store: ModelStore
    let loader: ModelLoader
    let openInference: OpenInference
    let lifecycle: ServerLifecycle
    /// The largest `ModelInfer` message answered; the transport takes up to twice as much before
    /// it resets the stream (`GRPCFront`), so that a message over the limit gets a clear error.
    let maxMessageBytes: Int
    let logger: Logger

    func serverLive(request: Inference_ServerLiveRequest, context: ServerContext) async throws -> Inference_ServerLiveResponse {
        .with { $0.live = true }
    }

    func serverReady(request: Inference_ServerReadyRequest, context: ServerContext) async throws -> Inference_ServerReadyResponse {
        // Ready once every folder was tried, until shutdown begins (as HTTP's /v2/health/ready).
        .with { $0.ready = store.isReady && !lifecycle.isDraining }
    }

    func modelReady(request: Inference_ModelReadyRequest, context: ServerContext) async throws -> Inference_ModelReadyResponse {
        try translatingErrors {
            try OpenInference.checkVersion(request.version, model: request.name)
            guard let entry = store.entry(named: request.name) else {
                throw ServingError.unknownModel(request.name, known: store.entries.map(\.name))
            }
            return .with { $0.ready = entry.model != nil }
        }
    }

    func serverMetadata(request: Inference_ServerMetadataRequest, context: ServerContext) async throws -> Inference_ServerMetadataResponse {
        .with {
            $0.name = "nfserve"
            $0.version = nfserveVersion
            $0.extensions = openInferenceExtensions
        }
    }

    func modelMetadata(request: Inference_ModelMetadataRequest, context: ServerContext) async throws -> Inference_ModelMetadataResponse {
        try translatingErrors {
            try OpenInference.checkVersion(request.version, model: request.name)
            let model = ModelDescription(try store.servedModel(named: request.name))
            func tensors(_ descriptions: [TensorDescription]) -> [Inference_ModelMetadataResponse.TensorMetadata] {
                descriptions.map { d in
                    .with {
                        $0.name = d.name
                        $0.datatype = d.datatype
                        $0.shape = d.shape.map(Int64.init)
                    }
                }
            }
            return .with {
                $0.name = model.name
                $0.versions = model.versions
                $0.platform = model.platform
                $0.inputs = tensors(model.inputs)
                $0.outputs = tensors(model.outputs)
            }
        }
    }

    func modelInfer(request: Inference_ModelInferRequest, context: ServerContext) async throws -> Inference_ModelInferResponse {
        try await translatingErrors {
            let size = request.tensorDataBytes
            guard size <= maxMessageBytes else {
                throw RPCError(
                    code: .resourceExhausted,
                    message:
                        "the ModelInfer message carries \(size) bytes of tensor data, over the server's limit of \(maxMessageBytes) bytes (--max-body-mb); send fewer or smaller inputs"
                )
            }
            try OpenInference.checkVersion(request.modelVersion, model: request.modelName)
            let model = try store.servedModel(named: request.modelName)
            let result = try await openInference.infer(try InferenceRequest(request), model: model)
            // Raw in, raw out (as Triton answers); typed contents in, typed contents out.
            return Inference_ModelInferResponse(result, raw: !request.rawInputContents.isEmpty)
        }
    }

    func repositoryIndex(request: Inference_RepositoryIndexRequest, context: ServerContext) async throws -> Inference_RepositoryIndexResponse {
        store.rescan()
        let entries = store.entries.filter { !request.ready || $0.model != nil }.map(ModelIndexEntry.init)
        return .with {
            $0.models = entries.map { entry in
                .with {
                    $0.name = entry.name
                    $0.version = entry.version
                    $0.state = entry.state
                    $0.reason = entry.reason ?? ""
                }
            }
        }
    }

    func repositoryModelLoad(
        request: Inference_RepositoryModelLoadRequest, context: ServerContext
    ) async throws -> Inference_RepositoryModelLoadResponse {
        try await translatingErrors {
            // Load, or reload from disk; a failed reload keeps the old version serving.
            _ = try await store.reload(request.modelName, logger: logger, load: loader.load)
            return Inference_RepositoryModelLoadResponse()
        }
    }

    func repositoryModelUnload(
        request: Inference_RepositoryModelUnloadRequest, context: ServerContext
    ) async throws -> Inference_RepositoryModelUnloadResponse {
        try translatingErrors {
            try store.unload(request.modelName)
            logger.info("unloaded \(request.modelName)")
            return Inference_RepositoryModelUnloadResponse()
        }
    }

    private func translatingErrors<Response>(_ body: () throws -> Response) throws -> Response {
        do { return try body() } catch { throw RPCError(mapping: error) }
    }

    private func translatingErrors<Response>(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch { throw RPCError(mapping: error) }
    }
}
