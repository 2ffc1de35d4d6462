/// Pillow's mode conversions between the 8-bit forms nfserve keeps (Convert.c in Pillow 13).
///
/// - "L" -> "RGB" (`l2rgb`): the gray value is replicated into R, G and B.
/// - "RGB" -> "L" (`rgb2l`): ITU-R 601-2 luma in 16.16 fixed point, rounded:
///   `L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16` (Pillow's `L24` macro).
///   The weights add up to 65536, so a gray pixel (v, v, v) maps back to v exactly.
/// - "CMYK" -> "RGB" (`cmyk2rgb`): `R = CLIP8(nk - MULDIV255(C, nk))` with `nk = 255 - K`
///   and `MULDIV255(a, b) = ((a*b + 128) >> 8 + a*b + 128) >> 8`; likewise G from M and B
///   from Y. Pillow reads CMYK JPEGs with rawmode "CMYK;I" (Adobe's inverted polarity,
///   assumed for every CMYK JPEG), so C = 255 - stored value. `convert("L")` of a CMYK image
///   equals `rgb2l` of this RGB (checked with Pillow 13).
enum PillowConvert {
    /// rgb2l over `count` pixels.
    @inline(__always)
    static func rgbToL(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>, count: Int) {
        for i in 0..<count {
            let r = UInt32(src[3 * i]), g = UInt32(src[3 * i + 1]), b = UInt32(src[3 * i + 2])
            dst[i] = UInt8(truncatingIfNeeded: (r &* 19595 &+ g &* 38470 &+ b &* 7471 &+ 0x8000) >> 16)
        }
    }

    /// l2rgb over `count` pixels.
    @inline(__always)
    static func lToRGB(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>, count: Int) {
        for i in 0..<count {
            let v = src[i]
            dst[3 * i] = v
            dst[3 * i + 1] = v
            dst[3 * i + 2] = v
        }
    }

    /// Pillow's "CMYK;I" unpack followed by cmyk2rgb, from the bytes stored in a CMYK JPEG.
    static func storedCMYKToRGB(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>, count: Int) {
        @inline(__always) func muldiv255(_ a: Int32, _ b: Int32) -> Int32 {
            let t = a &* b &+ 128
            return ((t >> 8) &+ t) >> 8
        }
        @inline(__always) func clip8(_ v: Int32) -> UInt8 {
            UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
        }
        for i in 0..<count {
            let c = 255 - Int32(src[4 * i]), m = 255 - Int32(src[4 * i + 1])
            let y = 255 - Int32(src[4 * i + 2]), k = 255 - Int32(src[4 * i + 3])
            let nk = 255 - k
            dst[3 * i] = clip8(nk - muldiv255(c, nk))
            dst[3 * i + 1] = clip8(nk - muldiv255(m, nk))
            dst[3 * i + 2] = clip8(nk - muldiv255(y, nk))
        }
    }
}

extension Image8 {
    /// Pillow's `convert("L")` (toChannels 1) or `convert("RGB")` (toChannels 3) of this image.
    /// Returns `self` when it already has that many channels.
    public func converted(toChannels target: Int) -> Image8 {
        precondition(target == 1 || target == 3, "can convert to 1 (L) or 3 (RGB) channels, not \(target)")
        if target == channels { return self }
        let count = width * height
        return Image8(width: width, height: height, channels: target) { out in
            pixels.withUnsafeBufferPointer { src in
                if target == 1 {
                    PillowConvert.rgbToL(src.baseAddress!, out.baseAddress!, count: count)
                } else {
                    PillowConvert.lToRGB(src.baseAddress!, out.baseAddress!, count: count)
                }
            }
        }
    }
}
