/// Why an uploaded image could not be turned into pixels.
///
/// Every case is the client's fault; the server answers each kind with its own status
/// (`APIError.status(of:)` in NFServer):
/// - `.empty`, `.corrupt`: the bytes are not a readable image;
/// - `.unsupportedFormat`: a real image in a format (or a variant of JPEG/PNG) nfserve does not decode;
/// - `.tooManyPixels`: a valid image larger than the server's pixel limit; found from the header
///   alone, before any pixel is decoded.
public enum ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No bytes at all.
    case empty
    /// The bytes start like a JPEG/PNG but cannot be decoded; the message says why in words
    /// a user understands (e.g. "the JPEG data ends early (truncated file?)").
    case corrupt(String)
    /// Not a JPEG or PNG; names what it looks like ("GIF", "BMP", "WebP", "TIFF", "unknown",
    /// or a JPEG/PNG variant such as "12-bit JPEG").
    case unsupportedFormat(String)
    /// width * height exceeds the configured limit.
    case tooManyPixels(width: Int, height: Int, limit: Int)

    /// A short machine-readable name for logs, metrics and JSON error bodies.
    public var kind: String {
        switch self {
        case .empty: return "empty"
        case .corrupt: return "corrupt"
        case .unsupportedFormat: return "unsupportedFormat"
        case .tooManyPixels: return "tooManyPixels"
        }
    }

    public var description: String {
        switch self {
        case .empty:
            return "the uploaded image is empty (0 bytes)"
        case .corrupt(let why):
            return "the image could not be decoded: \(why)"
        case .unsupportedFormat(let what):
            if what == "unknown" {
                return "unsupported image format (not a JPEG or PNG); send a JPEG or PNG image"
            }
            return "unsupported image format: \(what); send a JPEG or PNG image"
        case .tooManyPixels(let width, let height, let limit):
            return "the image is \(width)x\(height) = \(width * height) pixels, more than the limit of \(limit) pixels"
        }
    }
}
