import Foundation
import Hummingbird
import Logging
import NFOpenInference
import NFServing

/// Triton's model repository extension over the checkpoints folder, as admin routes:
/// `POST /v2/repository/index` (every folder and its state), `POST /v2/repository/models/{model}/load`
/// (load, or reload from disk; a failed reload keeps the old version serving) and
/// `.../unload` (requests in flight finish on the model they have).
/// https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_model_repository.md
struct RepositoryRoutes: Sendable {
    let store: ModelStore
    let loader: ModelLoader
    let authorization: AdminAuthorization
    let logger: Logger

    /// `POST /v2/repository/index` body: `{"ready": true}` lists only the models that serve.
    struct IndexRequest: Decodable {
        var ready: Bool?
    }

    /// The index is a bare JSON array, as Triton answers it.
    struct Index: ResponseEncodable {
        let entries: [ModelIndexEntry]
        func encode(to encoder: any Encoder) throws { try entries.encode(to: encoder) }
    }

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.onAdmin("/v2/repository/index", method: .post, table: routes, authorization: authorization) { request, _ in
            let body = try await request.collectBody(limit: 1 << 16)
            let readyOnly =
                body.readableBytes == 0 ? false : (try JSONDecoder().decode(IndexRequest.self, from: Data(body.readableBytesView)).ready ?? false)
            store.rescan()
            let entries = store.entries.filter { !readyOnly || $0.model != nil }
            return Index(entries: entries.map(ModelIndexEntry.init))
        }
        router.onAdmin("/v2/repository/models/{model}/load", method: .post, table: routes, authorization: authorization) { request, context in
            let name = try context.parameters.require("model")
            _ = try await request.collectBody(limit: 1 << 16)  // Triton's optional parameters: none apply
            _ = try await store.reload(name, logger: logger, load: loader.load)
            return Response(status: .ok)
        }
        router.onAdmin("/v2/repository/models/{model}/unload", method: .post, table: routes, authorization: authorization) { request, context in
            let name = try context.parameters.require("model")
            _ = try await request.collectBody(limit: 1 << 16)
            try store.unload(name)
            logger.info("unloaded \(name)")
            return Response(status: .ok)
        }
    }
}
