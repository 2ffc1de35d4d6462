/// One encoded image of a request, with the name its multipart part gave it.
public struct UploadedImage: Sendable {
    public var filename: String?
    public var bytes: [UInt8]

    public init(filename: String?, bytes: [UInt8]) {
        self.filename = filename
        self.bytes = bytes
    }
}
