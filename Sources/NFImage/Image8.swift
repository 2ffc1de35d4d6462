/// An 8-bit image in HWC order: `pixels[(y * width + x) * channels + c]`.
///
/// `channels` is 1 (Pillow mode "L") or 3 (Pillow mode "RGB"). The decoder returns gray
/// sources (gray JPEGs, PNG colour types 0 and 4) with 1 channel and everything else with 3;
/// `converted(toChannels:)` then applies Pillow's `convert("L")` / `convert("RGB")`.
public struct Image8: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive, got \(width)x\(height)")
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3, got \(channels)")
        precondition(
            pixels.count == width * height * channels,
            "\(width)x\(height)x\(channels) image needs \(width * height * channels) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Builds an image whose bytes are written by `initializer`, which must fill all of them.
    init(
        width: Int, height: Int, channels: Int,
        unsafeUninitialized initializer: (UnsafeMutableBufferPointer<UInt8>) throws -> Void
    ) rethrows {
        let count = width * height * channels
        let pixels = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try initializer(buffer)
            initialized = count
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
    }
}

/// The container formats nfserve decodes.
public enum ImageFormat: String, Sendable, Equatable, CustomStringConvertible {
    case jpeg = "JPEG"
    case png = "PNG"

    public var description: String { rawValue }
}

/// What the header says, read before any pixel is decoded.
public struct ImageHeader: Sendable, Equatable {
    public let format: ImageFormat
    /// Width and height as stored in the file (before EXIF orientation is applied; a
    /// 90-degree orientation swaps them in the decoded image).
    public let width: Int
    public let height: Int
    /// Channels of the decoded `Image8` (1 for gray sources, 3 otherwise).
    public let channels: Int

    public var pixelCount: Int { width * height }

    public init(format: ImageFormat, width: Int, height: Int, channels: Int) {
        self.format = format
        self.width = width
        self.height = height
        self.channels = channels
    }
}
