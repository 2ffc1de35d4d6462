import NFFuzzSupport
import NFRequestFormats
import NIOCore

// Fuzz target: a multipart/form-data upload. The first line of the input is the request's
// Content-Type header (its boundary parameter read by MediaTypeHeader, as the server does); the
// rest is the body, parsed by MultipartKit into the uploaded files.

func fuzzOne(_ bytes: [UInt8]) {
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
    let contentType = MediaTypeHeader(String(decoding: bytes[..<newline], as: UTF8.self))
    guard let boundary = contentType.parameter("boundary"), !boundary.isEmpty else { return }
    let body = ByteBuffer(bytes: bytes[min(newline + 1, bytes.endIndex)...])
    guard let uploads = try? multipartUploads(of: body, boundary: boundary) else { return }
    for upload in uploads { _ = upload.filename?.count }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { replayCorpus(fuzzOne) } }
#endif
