import NFImage
import NIOCore

// Hand-written on purpose. MultipartKit 4.7.1, the release this project can use, traps (array
// index out of range) on any byte >= 0x80 in a part's header name: one request crashed the whole
// server (found by Fuzz/FuzzMultipart; the input is Fuzz/corpus/FuzzMultipart/regression-*). No
// fixed release is available here, and a multipart/form-data body that is already in memory
// takes little code to split correctly, so it is split here, by RFC 2046 section 5.1.1 and
// RFC 7578, and fuzzed.

/// The images of a multipart/form-data body (`curl -F data=@a.png -F data=@b.png`): the parts
/// that carry a filename (file uploads), in order; when none does, every part. A body of more
/// than `maxParts` parts is refused (413) as soon as the splitting gets there: 20 MiB of empty
/// parts would otherwise be two million small arrays.
public func multipartUploads(of body: ByteBuffer, boundary: String, maxParts: Int = 128) throws(RequestError) -> [UploadedImage] {
    let parts = try MultipartBody.parts(of: Array(body.readableBytesView), boundary: boundary, maxParts: maxParts)
    let files = parts.map { part in
        UploadedImage(
            filename: part.headers.first { $0.name == "content-disposition" }
                .flatMap { MediaTypeHeader($0.value).parameter("filename") },
            bytes: part.body)
    }
    let named = files.filter { $0.filename != nil }
    let images = named.isEmpty ? files : named
    guard !images.isEmpty else {
        throw .badRequest("multipart/form-data body has no parts; send files as curl -F data=@image.png")
    }
    return images
}

/// A multipart body split into its parts.
enum MultipartBody {
    struct Part {
        /// Header names lowercased, values trimmed.
        var headers: [(name: String, value: String)]
        var body: [UInt8]
    }

    static func malformed(_ detail: String) -> RequestError {
        .badRequest("malformed multipart/form-data body: \(detail) (check the boundary and the part headers)")
    }

    /// Splits `body` at `--boundary` delimiters: the preamble before the first and the epilogue
    /// after the closing `--boundary--` are ignored; each part is header lines, an empty line,
    /// then its bytes up to the CRLF before the next delimiter.
    static func parts(of body: [UInt8], boundary: String, maxParts: Int = .max) throws(RequestError) -> [Part] {
        let boundaryBytes = Array(boundary.utf8)
        guard (1...70).contains(boundaryBytes.count) else {
            throw .badRequest("the multipart boundary must be 1 to 70 characters long, it is \(boundaryBytes.count)")
        }
        let dash = UInt8(ascii: "-"), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        let crlf: [UInt8] = [cr, lf]
        let delimiter = [dash, dash] + boundaryBytes
        // The first delimiter opens the body or follows a CRLF; every later one follows a CRLF.
        var position: Int
        if body.starts(with: delimiter) {
            position = delimiter.count
        } else if let first = find(crlf + delimiter, in: body, from: 0) {
            position = first + 2 + delimiter.count
        } else {
            throw malformed("no boundary \"\(boundary)\" in the body")
        }
        var parts: [Part] = []
        while true {
            // After a delimiter: "--" closes the body; else optional padding, then CRLF.
            if body[position...].starts(with: [dash, dash]) { return parts }
            while position < body.count, body[position] == UInt8(ascii: " ") || body[position] == UInt8(ascii: "\t") { position += 1 }
            guard body[position...].starts(with: crlf) else { throw malformed("a boundary line does not end with CRLF") }
            position += 2
            // A part without headers starts with the empty line at once.
            let headersEnd: Int
            if body[position...].starts(with: crlf) {
                headersEnd = position - 2
            } else if let end = find(crlf + crlf, in: body, from: position) {
                headersEnd = end
            } else {
                throw malformed("a part's headers do not end with an empty line")
            }
            let headers = try parseHeaders(body[position..<max(position, headersEnd)])
            let contentStart = headersEnd + 4
            guard let next = find(crlf + delimiter, in: body, from: contentStart) else {
                throw malformed("the body ends before its closing boundary")
            }
            guard parts.count < maxParts else {
                throw .tooLarge(
                    "more than \(maxParts) parts in one multipart/form-data body; send at most \(maxParts) (and at most 64 images) per request")
            }
            parts.append(Part(headers: headers, body: Array(body[contentStart..<next])))
            position = next + 2 + delimiter.count
        }
    }

    /// `Name: value` lines separated by CRLF; names are RFC 7230 tokens (ASCII).
    private static func parseHeaders(_ bytes: ArraySlice<UInt8>) throws(RequestError) -> [(name: String, value: String)] {
        guard !bytes.isEmpty else { return [] }
        var headers: [(name: String, value: String)] = []
        var lineStart = bytes.startIndex
        while lineStart <= bytes.endIndex {
            let lineEnd = find([UInt8(ascii: "\r"), UInt8(ascii: "\n")], in: bytes, from: lineStart) ?? bytes.endIndex
            let line = bytes[lineStart..<lineEnd]
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line[..<colon].allSatisfy(isTokenByte)
            else {
                throw malformed("a part header is not \"Name: value\"")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingWhitespace()
            headers.append((name, value))
            lineStart = lineEnd + 2
        }
        return headers
    }

    /// RFC 7230 `tchar`: the characters of a header name.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// The index where `needle` first occurs in `haystack` at or after `start`.
    static func find<C: RandomAccessCollection>(_ needle: [UInt8], in haystack: C, from start: C.Index) -> C.Index?
    where C.Element == UInt8, C.Index == Int {
        guard let first = needle.first, start <= haystack.endIndex, needle.count <= haystack.endIndex - start else { return nil }
        var index = start
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = 1
                while matched < needle.count, haystack[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }
}
