import CNFImageCodecs

/// Turns uploaded bytes into an upright 8-bit image, the way the Python reference reads it:
/// `ImageOps.exif_transpose(Image.open(f))` in the 8-bit form Pillow's `convert("L")` or
/// `convert("RGB")` starts from (see `Image8`).
///
/// Order of work, so that a hostile upload costs little: sniff the format from the magic
/// bytes, read the header only, refuse images over the pixel limit, then decode.
public enum ImageDecoder {
    /// Which format the bytes are, from their magic number.
    /// - Throws: `ImageError.empty` for no bytes, `.unsupportedFormat` naming what it looks
    ///   like (GIF, BMP, WebP, TIFF, ... or "unknown") for anything but JPEG and PNG.
    public static func sniff(_ bytes: [UInt8]) throws -> ImageFormat {
        try bytes.withUnsafeBufferPointer { try sniff($0) }
    }

    /// Reads the header (format, size) without decoding pixels.
    public static func header(_ bytes: [UInt8]) throws -> ImageHeader {
        try bytes.withUnsafeBufferPointer { data in
            switch try sniff(data) {
            case .jpeg:
                let info = try JPEGDecoder.parse(data)
                return ImageHeader(
                    format: .jpeg, width: info.width, height: info.height,
                    channels: info.components == 1 ? 1 : 3)
            case .png:
                var png = try PNGDecoder.header(data)
                return ImageHeader(
                    format: .png, width: Int(png.width), height: Int(png.height),
                    channels: Int(nf_png_output_channels(&png)))
            }
        }
    }

    /// Decodes `bytes` into an upright 8-bit image with 1 (gray source) or 3 channels.
    ///
    /// - Parameter maxPixels: largest width * height accepted; checked from the header
    ///   before any pixel memory is allocated.
    /// - Throws: `ImageError` (`.empty`, `.corrupt`, `.unsupportedFormat`, `.tooManyPixels`).
    public static func decode(_ bytes: [UInt8], maxPixels: Int) throws -> Image8 {
        try bytes.withUnsafeBufferPointer { data in
            let (image, orientation): (Image8, Int?)
            switch try sniff(data) {
            case .jpeg:
                let info = try JPEGDecoder.parse(data)
                try checkLimit(width: info.width, height: info.height, maxPixels: maxPixels)
                (image, orientation) = try JPEGDecoder.decode(data, info: info)
            case .png:
                let header = try PNGDecoder.header(data)
                try checkLimit(width: Int(header.width), height: Int(header.height), maxPixels: maxPixels)
                (image, orientation) = try PNGDecoder.decode(data, header: header, maxPixels: maxPixels)
            }
            return ExifOrientation.apply(orientation, to: image)
        }
    }

    private static func checkLimit(width: Int, height: Int, maxPixels: Int) throws {
        // Both sides are at most 2^32 - 1, so the product cannot overflow Int64.
        if width * height > maxPixels {
            throw ImageError.tooManyPixels(width: width, height: height, limit: maxPixels)
        }
    }

    static func sniff(_ b: UnsafeBufferPointer<UInt8>) throws -> ImageFormat {
        guard !b.isEmpty else { throw ImageError.empty }
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            b.count >= offset + prefix.count && b[offset..<(offset + prefix.count)].elementsEqual(prefix)
        }
        func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }
        // Pillow's JpegImagePlugin._accept: FF D8 FF.
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if starts(pngSignature) { return .png }
        if starts([0x89, 0x50, 0x4E, 0x47]) || (b.count < 8 && pngSignature.starts(with: b)) {
            throw ImageError.corrupt("the PNG signature is damaged or the file is truncated")
        }
        if starts([0xFF, 0xD8]) && b.count < 3 {
            throw ImageError.corrupt("the JPEG file is truncated")
        }
        let what: String
        if starts(ascii("GIF87a")) || starts(ascii("GIF89a")) {
            what = "GIF"
        } else if starts(ascii("BM")) && b.count >= 14 {
            what = "BMP"
        } else if starts(ascii("RIFF")) && starts(ascii("WEBP"), at: 8) {
            what = "WebP"
        } else if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) {
            what = "TIFF"
        } else if starts(ascii("ftyp"), at: 4) && (starts(ascii("avif"), at: 8) || starts(ascii("avis"), at: 8)) {
            what = "AVIF"
        } else if starts(ascii("ftyp"), at: 4)
            && (starts(ascii("heic"), at: 8) || starts(ascii("heix"), at: 8)
                || starts(ascii("mif1"), at: 8) || starts(ascii("msf1"), at: 8))
        {
            what = "HEIF"
        } else if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            what = "JPEG 2000"
        } else if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) {
            what = "JPEG XL"
        } else if starts([0x00, 0x00, 0x01, 0x00]) {
            what = "ICO"
        } else if starts(ascii("8BPS")) {
            what = "PSD"
        } else if starts(ascii("qoif")) {
            what = "QOI"
        } else if starts(ascii("%PDF")) {
            what = "PDF"
        } else {
            what = "unknown"
        }
        throw ImageError.unsupportedFormat(what)
    }
}
