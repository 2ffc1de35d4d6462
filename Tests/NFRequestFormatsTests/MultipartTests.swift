import Foundation
import NIOCore
import Testing

@testable import NFRequestFormats

/// The multipart/form-data splitter (RFC 2046 section 5.1.1, RFC 7578) on bodies written here
/// byte by byte, the forms curl sends, and the inputs the fuzzer found.
@Suite struct MultipartTests {
    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func curlFormWithTwoFilesGivesBothInOrder() throws {
        let text =
            "--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nAAA\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"b;c.png\"\r\n\r\nB\r\nB\r\n--XyZ--\r\n"
        let uploads = try multipartUploads(of: Self.body(text), boundary: "XyZ")
        #expect(uploads.map(\.filename) == ["a.png", "b;c.png"])
        #expect(uploads.map { String(decoding: $0.bytes, as: UTF8.self) } == ["AAA", "B\r\nB"])
    }

    @Test func preambleEpiloguePaddingAndEmptyParts() throws {
        let text = "preamble\r\n--b \t\r\nX-A: 1\r\n\r\n\r\n--b\r\n\r\nno headers\r\n--b--epilogue"
        let parts = try MultipartBody.parts(of: Array(text.utf8), boundary: "b")
        #expect(parts.count == 2)
        #expect(parts[0].headers.map(\.name) == ["x-a"] && parts[0].body.isEmpty)
        #expect(parts[1].headers.isEmpty && String(decoding: parts[1].body, as: UTF8.self) == "no headers")
        // Without a filename anywhere, every part counts.
        #expect(try multipartUploads(of: Self.body(text), boundary: "b").count == 2)
    }

    @Test(arguments: [
        ("no boundary", "just bytes"),
        ("unterminated", "--b\r\nA: 1\r\n\r\nbody without end"),
        ("headers never end", "--b\r\nA: 1\r\n"),
        ("no colon", "--b\r\nnot a header\r\n\r\nx\r\n--b--"),
        ("empty name", "--b\r\n: v\r\n\r\nx\r\n--b--"),
        ("delimiter without CRLF", "--bX\r\n\r\nx\r\n--b--"),
        ("only the closing delimiter", "--b--"),
    ])
    func malformedBodiesAre400(name: String, text: String) {
        #expect { try multipartUploads(of: Self.body(text), boundary: "b") } throws: { error in
            (error as? RequestError)?.status == 400
        }
    }

    /// Found by Fuzz/FuzzMultipart (Fuzz/corpus/FuzzMultipart/regression-multipartkit-nonascii-header-name):
    /// MultipartKit 4.7.1 trapped, index out of range, on a byte >= 0x80 in a part header name.
    @Test func nonASCIIHeaderNameIs400NotATrap() throws {
        var bytes = Array("--XyZ\r\nCon".utf8) + [0xFF, 0xFF, 0xA7] + Array("tent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n".utf8)
        #expect(throws: RequestError.self) { try multipartUploads(of: ByteBuffer(bytes: bytes), boundary: "XyZ") }
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/FuzzMultipart/regression-multipartkit-nonascii-header-name")
        bytes = [UInt8](try Data(contentsOf: corpus))
        let newline = try #require(bytes.firstIndex(of: UInt8(ascii: "\n")))
        let boundary = try #require(MediaTypeHeader(String(decoding: bytes[..<newline], as: UTF8.self)).parameter("boundary"))
        #expect(throws: RequestError.self) { try multipartUploads(of: ByteBuffer(bytes: bytes[(newline + 1)...]), boundary: boundary) }
    }

    /// Two million empty parts fit in 20 MiB: the splitting stops at the limit with a 413.
    @Test func partsBeyondTheLimitAre413() throws {
        let text = String(repeating: "--b\r\n\r\n\r\n", count: 200_000) + "--b--"
        #expect { try multipartUploads(of: Self.body(text), boundary: "b", maxParts: 128) } throws: { error in
            (error as? RequestError)?.status == 413 && "\(error)".contains("more than 128 parts")
        }
        #expect(
            try multipartUploads(of: Self.body(String(repeating: "--b\r\n\r\n\r\n", count: 128) + "--b--"), boundary: "b", maxParts: 128).count == 128
        )
    }

    @Test func boundaryLengthIsChecked() {
        #expect(throws: RequestError.self) { try MultipartBody.parts(of: [], boundary: "") }
        #expect(throws: RequestError.self) { try MultipartBody.parts(of: [], boundary: String(repeating: "b", count: 71)) }
    }
}
