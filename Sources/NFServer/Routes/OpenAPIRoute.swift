import Foundation
import Hummingbird

/// `GET /openapi.json`: the HTTP contract (docs/openapi.yaml) as JSON, read once from the
/// target's resources.
enum OpenAPIRoute {
    /// The document's bytes; nil when the resource bundle is missing (a binary copied without it).
    static let document: [UInt8]? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else { return nil }
        return [UInt8](data)
    }()

    static func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/openapi.json", method: .get, table: routes) { _, _ in
            guard let document else {
                throw APIError(.notFound, "the OpenAPI document is not installed beside this binary (nfserve_NFServer.resources)")
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
    }
}
