import CNFImageCodecs

/// PNG through libspng (`nf_png_read_header`, `nf_png_decode`); the C shim documents how
/// each colour type and bit depth is reduced to the bytes Pillow 13 produces.
enum PNGDecoder {
    /// Largest ancillary chunk accepted (spng_set_chunk_limits' chunk_size): text, ICC
    /// profiles and EXIF in real photographs are far smaller.
    static let maxChunkSize = 16 << 20
    /// Total memory spng may keep for ancillary chunks (spng_set_chunk_limits' cache_size).
    static let maxChunkCache = 32 << 20
    /// How much of an eXIf chunk is copied out for the orientation tag (IFD0 comes first).
    static let exifCapacity = 64 << 10

    static func header(_ data: UnsafeBufferPointer<UInt8>) throws -> nf_png_header {
        var header = nf_png_header()
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { text in
            nf_png_read_header(data.baseAddress, data.count, &header, text.baseAddress, text.count)
        }
        try check(status, message: message)
        return header
    }

    /// Decodes the pixels (before EXIF orientation) and returns the orientation value.
    static func decode(
        _ data: UnsafeBufferPointer<UInt8>, header: nf_png_header,
        maxPixels: Int
    ) throws -> (Image8, Int?) {
        var h = header
        let width = Int(header.width), height = Int(header.height)
        let channels = Int(nf_png_output_channels(&h))
        // Per-side limits for spng: the pixel limit was checked by the caller; this keeps
        // spng's own check consistent with it (and well below its 2^31-1 maximum).
        let side = UInt32(clamping: min(maxPixels, Int(Int32.max)))
        var limits = nf_png_limits(
            max_width: side, max_height: side,
            max_chunk_size: maxChunkSize, max_cache_size: maxChunkCache)
        var message = [CChar](repeating: 0, count: 256)
        var exif = [UInt8](repeating: 0, count: exifCapacity)
        var exifLength = 0
        var status: Int32 = 0
        let image = Image8(width: width, height: height, channels: channels) { out in
            status = exif.withUnsafeMutableBufferPointer { exifBuffer in
                message.withUnsafeMutableBufferPointer { text in
                    nf_png_decode(
                        data.baseAddress, data.count, &limits, out.baseAddress, out.count,
                        exifBuffer.baseAddress, exifBuffer.count, &exifLength,
                        text.baseAddress, text.count)
                }
            }
            if status != Int32(NF_CODEC_OK.rawValue) {
                out.initialize(repeating: 0)  // the array must be fully initialized even on failure
            }
        }
        try check(status, message: message)

        var orientation: Int? = nil
        if exifLength > 0 {
            orientation = exif.withUnsafeBufferPointer {
                ExifOrientation.orientation(exif: UnsafeBufferPointer(rebasing: $0[0..<min(exifLength, $0.count)]))
            }
        }
        if orientation == nil, let xmp = xmpRange(data) {
            orientation = ExifOrientation.orientation(xmp: UnsafeBufferPointer(rebasing: data[xmp]))
        }
        return (image, orientation)
    }

    /// The text of an uncompressed iTXt chunk with keyword "XML:com.adobe.xmp" (Pillow's
    /// `info["XML:com.adobe.xmp"]`). Compressed iTXt is not inflated here: such an XMP
    /// orientation is ignored (a documented difference; EXIF orientation is what cameras write).
    private static func xmpRange(_ data: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let keyword = Array("XML:com.adobe.xmp".utf8)
        var i = 8
        while i + 8 <= data.count {
            let length = Int(data[i]) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3])
            let type = (data[i + 4], data[i + 5], data[i + 6], data[i + 7])
            let start = i + 8
            guard length >= 0, start + length <= data.count else { return nil }
            if type == (0x49, 0x45, 0x4E, 0x44) { return nil }  // IEND
            if type == (0x69, 0x54, 0x58, 0x74), length > keyword.count + 3 {  // iTXt
                let chunk = UnsafeBufferPointer(rebasing: data[start..<(start + length)])
                // (`chunk` is rebased: its indices start at 0, not at `start`.)
                if chunk.starts(with: keyword), chunk[keyword.count] == 0,
                    chunk[keyword.count + 1] == 0
                {  // not compressed
                    // keyword \0 flag method language \0 translated-keyword \0 text
                    var j = keyword.count + 3
                    var zeros = 0
                    while j < chunk.count && zeros < 2 {
                        if chunk[j] == 0 { zeros += 1 }
                        j += 1
                    }
                    if zeros == 2 { return (start + j)..<(start + length) }
                }
            }
            i = start + length + 4  // + CRC
        }
        return nil
    }

    private static func check(_ status: Int32, message: [CChar]) throws {
        guard status != Int32(NF_CODEC_OK.rawValue) else { return }
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch UInt32(status) {
        case NF_CODEC_TRUNCATED.rawValue:
            throw ImageError.corrupt("the PNG data ends early (truncated upload?)")
        case NF_CODEC_LIMIT.rawValue:
            throw ImageError.corrupt("the PNG file exceeds a decoder limit (\(text))")
        case NF_CODEC_NO_MEMORY.rawValue:
            throw ImageError.corrupt("not enough memory to decode the PNG")
        default:
            throw ImageError.corrupt("the PNG data is damaged (\(text))")
        }
    }
}
