import Foundation
import Hummingbird
import HummingbirdTesting
import NFServing
import NFTestSupport
import Testing

@testable import NFServer

/// `GET /openapi.json` serves the contract (docs/openapi.yaml, converted by
/// tools/openapi-json.py), and the contract documents exactly the routes the router serves:
/// every path and method of one is in the other.
@Suite(.machineLoad(.shared)) struct OpenAPITests {
    @Test func theDocumentNamesEveryRouteAndNoOther() async throws {
        let routes = RouteTable()
        let router = buildRouter(
            TestServer.configuration(), store: TestServer.loadedStore(), pool: ComputePool(maxQueued: 4),
            routes: routes)
        let app = Application(router: router, logger: TestServer.logger)
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
            #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let methods: Set<String> = ["get", "put", "post", "delete", "patch"]
            var documented = Set<String>()
            for (path, operations) in paths where path != "/" {  // "/": the dashboard's static files
                for method in operations.keys where methods.contains(method) { documented.insert("\(method.uppercased()) \(path)") }
            }
            var served = Set<String>()
            for (path, verbs) in routes.all {
                for verb in verbs { served.insert("\(verb.rawValue) \(path)") }
            }
            #expect(served.count > 20)
            #expect(served.subtracting(documented).isEmpty, "served, not documented: \(served.subtracting(documented).sorted())")
            #expect(documented.subtracting(served).isEmpty, "documented, not served: \(documented.subtracting(served).sorted())")
        }
    }
}
