import CNFImageCodecs

/// JPEG: the header is read by walking the markers in Swift (as Pillow's
/// `JpegImageFile._open` does), the pixels are decoded by libjpeg-turbo (`nf_jpeg_decode`).
///
/// Walking the markers ourselves gives, in one pass and without allocating, the frame size,
/// the number of components, the EXIF and XMP segments (for the orientation) and where the
/// entropy-coded data starts. TurboJPEG 2.1's tjDecompressHeader3 would refuse some valid
/// files (unusual sampling factors) that Pillow and libjpeg decode.
enum JPEGDecoder {
    struct Info {
        var width = 0
        var height = 0
        var components = 0
        var precision = 0
        /// Byte range of the first "Exif\0\0" APP1 payload (Pillow keeps the first one).
        var exif: Range<Int>? = nil
        /// Byte range of the last XMP APP1 payload after its "http://ns.adobe.com/xap/1.0/\0".
        var xmp: Range<Int>? = nil
        /// Offset of the first byte after the first SOS segment; nil when the data ends (or
        /// EOI comes) after the frame header but before any scan: the size is known, so the
        /// pixel limit can still be applied, but there is nothing to decode.
        var scanStart: Int? = nil
        /// Why there is no scan (set together with `scanStart == nil`).
        var missingScan: ImageError? = nil
    }

    private static let exifSignature: [UInt8] = Array("Exif\0\0".utf8)
    private static let xmpSignature: [UInt8] = Array("http://ns.adobe.com/xap/1.0/\0".utf8)

    /// Reads the markers from SOI up to the first SOS. Throws only when the frame header
    /// (SOF) cannot be read; a file that stops after it returns `scanStart == nil`.
    static func parse(_ data: UnsafeBufferPointer<UInt8>) throws -> Info {
        let n = data.count
        var info = Info()
        var sawFrame = false
        var i = 2  // after FF D8
        func truncated() -> ImageError {
            .corrupt("the JPEG file ends inside its header (truncated upload?)")
        }
        // After the frame header, a missing scan is reported by `decode` (after the limit).
        func stop(_ error: ImageError) throws -> Info {
            guard sawFrame else { throw error }
            try validate(info)
            info.missingScan = error
            return info
        }
        while true {
            guard i < n else { return try stop(truncated()) }
            if data[i] != 0xFF {
                i += 1
                continue
            }  // junk between segments: skipped, as Pillow
            while i < n && data[i] == 0xFF { i += 1 }  // fill bytes
            guard i < n else { return try stop(truncated()) }
            let marker = data[i]
            i += 1
            switch marker {
            case 0x00, 0x01, 0xD0...0xD8:  // stuffed byte, TEM, RSTn, SOI: no length
                continue
            case 0xD9:
                return try stop(.corrupt("the JPEG file has no image data (end marker before any scan)"))
            default:
                break
            }
            guard i + 2 <= n else { return try stop(truncated()) }
            let length = Int(data[i]) << 8 | Int(data[i + 1])
            guard length >= 2 else { return try stop(.corrupt("the JPEG file has a malformed segment length")) }
            guard i + length <= n else { return try stop(truncated()) }
            let payload = (i + 2)..<(i + length)
            switch marker {
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                // SOFn (C4 = DHT, C8 = JPG extension, CC = DAC are not frame headers).
                guard !sawFrame else { break }  // libjpeg rejects a second SOF
                guard payload.count >= 6 else { throw ImageError.corrupt("the JPEG frame header is too short") }
                sawFrame = true
                let p = payload.lowerBound
                info.precision = Int(data[p])
                info.height = Int(data[p + 1]) << 8 | Int(data[p + 2])
                info.width = Int(data[p + 3]) << 8 | Int(data[p + 4])
                info.components = Int(data[p + 5])
                switch marker {
                case 0xC3, 0xC7, 0xCB, 0xCF:
                    throw ImageError.unsupportedFormat("lossless JPEG")
                case 0xC5, 0xC6, 0xCD, 0xCE:
                    throw ImageError.unsupportedFormat("hierarchical JPEG")
                default: break
                }
            case 0xE1:
                let bytes = UnsafeBufferPointer(rebasing: data[payload])
                if info.exif == nil, bytes.starts(with: exifSignature) {
                    info.exif = payload
                } else if bytes.starts(with: xmpSignature) {
                    info.xmp = (payload.lowerBound + xmpSignature.count)..<payload.upperBound
                }
            case 0xDA:
                guard sawFrame else { throw ImageError.corrupt("the JPEG file has no frame header before its image data") }
                try validate(info)
                info.scanStart = i + length
                return info
            default:
                break
            }
            i += length
        }
    }

    /// What Pillow's SOF handler and libjpeg accept.
    private static func validate(_ info: Info) throws {
        guard info.precision == 8 else {
            throw ImageError.unsupportedFormat("\(info.precision)-bit JPEG")
        }
        guard info.width > 0, info.height > 0 else {
            throw ImageError.corrupt("the JPEG frame header gives a size of \(info.width)x\(info.height)")
        }
        guard [1, 3, 4].contains(info.components) else {
            throw ImageError.unsupportedFormat("JPEG with \(info.components) colour components")
        }
    }

    /// Decodes the pixels (before EXIF orientation) and returns the orientation value.
    static func decode(_ data: UnsafeBufferPointer<UInt8>, info: Info) throws -> (Image8, Int?) {
        guard let scanStart = info.scanStart else {
            throw info.missingScan ?? ImageError.corrupt("the JPEG file has no image data")
        }
        // libjpeg's warning for a short file only reports the first warning through
        // TurboJPEG; as a second, independent check, a complete JPEG has an EOI marker
        // (FF D9) after its scans (0xFF inside entropy-coded data is always stuffed as FF 00).
        guard containsEOI(data, from: scanStart) else {
            throw ImageError.corrupt("the JPEG data ends early (truncated upload?)")
        }
        let w = info.width, h = info.height, components = info.components
        var raw = [UInt8](repeating: 0, count: w * h * components)
        var message = [CChar](repeating: 0, count: 256)
        let status = raw.withUnsafeMutableBufferPointer { out in
            message.withUnsafeMutableBufferPointer { text in
                nf_jpeg_decode(
                    data.baseAddress, data.count, Int32(w), Int32(h), Int32(components),
                    out.baseAddress, out.count, text.baseAddress, text.count)
            }
        }
        try check(status, message: message)

        let image: Image8
        switch components {
        case 1, 3:
            image = Image8(width: w, height: h, channels: components, pixels: raw)
        default:
            image = Image8(width: w, height: h, channels: 3) { out in
                raw.withUnsafeBufferPointer { src in
                    PillowConvert.storedCMYKToRGB(src.baseAddress!, out.baseAddress!, count: w * h)
                }
            }
        }
        var orientation: Int? = nil
        if let exif = info.exif {
            orientation = ExifOrientation.orientation(exif: UnsafeBufferPointer(rebasing: data[exif]))
        }
        if orientation == nil, let xmp = info.xmp {
            orientation = ExifOrientation.orientation(xmp: UnsafeBufferPointer(rebasing: data[xmp]))
        }
        return (image, orientation)
    }

    /// libjpeg-turbo's own reading of the header (tjDecompressHeader3), for cross-checks.
    static func turboJPEGHeader(_ data: UnsafeBufferPointer<UInt8>) -> nf_jpeg_header? {
        var header = nf_jpeg_header()
        let status = nf_jpeg_read_header(data.baseAddress, data.count, &header, nil, 0)
        return status == Int32(NF_CODEC_OK.rawValue) ? header : nil
    }

    private static func containsEOI(_ data: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        var i = data.count - 2
        // Usually the last two bytes; scan backwards to allow trailing bytes after EOI.
        while i >= start {
            if data[i] == 0xFF && data[i + 1] == 0xD9 { return true }
            i -= 1
        }
        return false
    }

    private static func check(_ status: Int32, message: [CChar]) throws {
        guard status != Int32(NF_CODEC_OK.rawValue) else { return }
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch UInt32(status) {
        case NF_CODEC_TRUNCATED.rawValue:
            throw ImageError.corrupt("the JPEG data ends early (truncated upload?)")
        case NF_CODEC_UNSUPPORTED.rawValue:
            throw ImageError.unsupportedFormat(text)
        case NF_CODEC_NO_MEMORY.rawValue:
            throw ImageError.corrupt("not enough memory to decode the JPEG")
        default:
            throw ImageError.corrupt("the JPEG data is damaged (\(text))")
        }
    }
}
