import MultipartKit
import NIOCore

/// The images of a multipart/form-data body (`curl -F data=@a.png -F data=@b.png`), parsed by
/// MultipartKit: the parts that carry a filename (file uploads), in order; when none does, every part.
public func multipartUploads(of body: ByteBuffer, boundary: String) throws(RequestError) -> [UploadedImage] {
    var parts: [(disposition: String?, body: [UInt8])] = []
    var disposition: String?
    var current: [UInt8] = []
    let parser = MultipartParser(boundary: boundary)
    parser.onHeader = { name, value in
        if name.lowercased() == "content-disposition" { disposition = value }
    }
    parser.onBody = { buffer in current.append(contentsOf: buffer.readableBytesView) }
    parser.onPartComplete = {
        parts.append((disposition, current))
        disposition = nil
        current = []
    }
    do {
        try parser.execute(body)
    } catch {
        throw .badRequest("malformed multipart/form-data body (check the boundary and the part headers)")
    }
    let files = parts.map { UploadedImage(filename: $0.disposition.flatMap(MediaTypeHeader.init)?.parameter("filename"), bytes: $0.body) }
    let named = files.filter { $0.filename != nil }
    let images = named.isEmpty ? files : named
    guard !images.isEmpty else {
        throw .badRequest("multipart/form-data body has no parts; send files as curl -F data=@image.png")
    }
    return images
}
