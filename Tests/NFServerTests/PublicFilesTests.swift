import Foundation
import Hummingbird
import HummingbirdTesting
import NFTestSupport
import Testing

@testable import NFServer

/// The dashboard's folder served at `/` (the repository's `Public/`): the page, its scripts with
/// their content types and caching headers, the API still answering first, no directory
/// listing and nothing outside the folder. (What the page does is tested in a browser:
/// Tests/Browser/test_dashboard.py.)
@Suite(.machineLoad(.shared)) struct PublicFilesTests {
    static let publicFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Public").path

    static func app() -> some ApplicationProtocol {
        var configuration = TestServer.configuration()
        configuration.publicDirectory = publicFolder
        return TestServer.app(configuration: configuration)
    }

    @Test func servesThePageAndItsFiles() async throws {
        try await Self.app().test(.router) { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.headers[.cacheControl] == "no-cache")
            #expect(page.headers[.eTag] != nil)
            #expect(String(buffer: page.body).contains(#"<script type="module" src="js/app.js">"#))
            for (path, type) in [
                ("/js/app.js", "javascript"), ("/app.css", "text/css"), ("/samples/sneaker.png", "image/png"),
                ("/samples/index.json", "application/json"),
            ] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok, "\(path)")
                #expect(response.headers[.contentType]?.contains(type) == true, "\(path): \(String(describing: response.headers[.contentType]))")
                #expect(response.headers[.cacheControl] == "max-age=300", "\(path)")
            }
            // The API answers first; unknown paths are the API's JSON 404.
            #expect(try await client.execute(uri: "/models", method: .get).headers[.contentType]?.hasPrefix("application/json") == true)
            let missing = try await client.execute(uri: "/no-such-file.js", method: .get)
            #expect(missing.status == .notFound)
            #expect(try missing.errorMessage.contains("no-such-file.js"))
        }
    }

    @Test func noListingAndNothingOutsideTheFolder() async throws {
        try await Self.app().test(.router) { client in
            for path in [
                "/js/", "/samples/", "/../Package.swift", "/js/../../Package.swift", "/%2e%2e/Package.swift",
                "/js/%2E%2E/%2E%2E/Package.swift", "/..%2fPackage.swift",
            ] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound, "\(path): \(response.status)")
                #expect(!String(buffer: response.body).contains("swift-tools-version"), "\(path)")
            }
        }
    }
}
