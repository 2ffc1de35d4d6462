import Foundation
import Hummingbird
import HummingbirdTesting
import NFTestSupport
import Testing

@testable import NFServer

/// Every broken file of Tests/Fixtures/images (tools/reference/make_image_fixtures.py: truncated,
/// corrupt, empty, huge dimensions, GIF/BMP/WebP/TIFF, random bytes) sent to `/predictions`:
/// each gets docs/api.md's JSON error with the status of its kind, and the server keeps serving.
@Suite(.machineLoad(.shared)) struct BrokenImageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    static let cases: [(file: String, expect: String)] = {
        guard let data = try? Data(contentsOf: root.appendingPathComponent("manifest.json")),
            let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let cases = manifest["cases"] as? [[String: Any]]
        else { return [] }
        return cases.compactMap { c in
            guard let file = c["file"] as? String, let expect = c["expect"] as? String, expect != "ok" else { return nil }
            return (file, expect)
        }
    }()

    static let status: [String: HTTPResponse.Status] = [
        "empty": .badRequest, "corrupt": .badRequest, "unsupportedFormat": .unsupportedMediaType,
        "tooManyPixels": .unprocessableContent,
    ]

    @Test func everyBrokenFileIsAJSONErrorAndTheServerKeepsServing() async throws {
        #expect(Self.cases.count >= 15)
        let configuration = TestServer.configuration(maxBodyBytes: 20 << 20)
        try await TestServer.app(configuration: configuration).test(.router) { client in
            for (file, expect) in Self.cases {
                let bytes = try [UInt8](Data(contentsOf: Self.root.appendingPathComponent(file)))
                let response = try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: bytes))
                #expect(response.status == Self.status[expect], "\(file) (\(expect))")
                _ = try response.errorMessage
                let after = try await client.execute(uri: "/predictions/tiny", method: .put, body: ByteBuffer(bytes: TestPNG.sample()))
                #expect(after.status == .ok, "the server keeps serving after \(file)")
            }
        }
    }
}
