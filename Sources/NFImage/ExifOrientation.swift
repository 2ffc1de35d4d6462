/// EXIF orientation, read and applied the way Pillow's `ImageOps.exif_transpose` does.
///
/// timm/torchvision's `Image.open(f).convert("RGB")` ignores the orientation tag; nfserve
/// applies it on purpose (a phone photo should be classified upright), so the reference for
/// an oriented file is `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`.
///
/// Pillow 13 (`Image.getexif`, `ImageOps.exif_transpose`):
/// - the EXIF block of a JPEG is the first APP1 segment starting "Exif\0\0" (later ones
///   are appended to it); of a PNG, the eXIf chunk;
/// - `Exif.load` strips up to two leading "Exif\0\0", then reads the TIFF header and IFD0;
///   the orientation is tag 0x0112 (first value if the count is larger than 1);
/// - only when IFD0 has no orientation tag, the XMP packet is searched with the regular
///   expression `tiff:Orientation(="|>)([0-9])` (JPEG: the last APP1 starting
///   "http://ns.adobe.com/xap/1.0/\0"; PNG: the iTXt chunk "XML:com.adobe.xmp");
/// - values 2...8 select a transpose, anything else (1, 0, 9, missing) leaves the image as
///   is. Unreadable EXIF is treated as "no orientation" here (Pillow may raise instead).
enum ExifOrientation {
    /// The orientation tag of a TIFF/EXIF block, or nil when absent or unreadable.
    static func orientation(exif: UnsafeBufferPointer<UInt8>) -> Int? {
        var data = exif
        let prefix: [UInt8] = Array("Exif\0\0".utf8)
        for _ in 0..<2 where data.count >= 6 && data.prefix(6).elementsEqual(prefix) {
            data = UnsafeBufferPointer(rebasing: data[(data.startIndex + 6)...])
        }
        guard data.count >= 8 else { return nil }
        let base = data.startIndex
        let little: Bool
        switch (data[base], data[base + 1]) {
        case (0x49, 0x49): little = true  // "II"
        case (0x4D, 0x4D): little = false  // "MM"
        default: return nil
        }
        func u16(_ offset: Int) -> Int? {
            guard offset >= 0, offset + 2 <= data.count else { return nil }
            let a = Int(data[base + offset]), b = Int(data[base + offset + 1])
            return little ? a | b << 8 : a << 8 | b
        }
        func u32(_ offset: Int) -> Int? {
            guard let lo = u16(little ? offset : offset + 2),
                let hi = u16(little ? offset + 2 : offset)
            else { return nil }
            return hi << 16 | lo
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        var found: Int? = nil
        for entry in 0..<count {
            let at = ifd + 2 + 12 * entry
            guard let tag = u16(at), let type = u16(at + 2), let n = u32(at + 4) else { return found }
            guard tag == 0x0112, n >= 1 else { continue }
            // The value sits in the 4-byte field when it fits, else at the offset stored there.
            let unit: Int
            switch type {
            case 1, 6: unit = 1  // BYTE, SBYTE
            case 3, 8: unit = 2  // SHORT, SSHORT
            case 4, 9: unit = 4  // LONG, SLONG
            default: continue  // not an integer type: ignored
            }
            var valueAt = at + 8
            if unit * n > 4 {
                guard let offset = u32(at + 8) else { continue }
                valueAt = offset
            }
            let value: Int?
            switch type {
            case 1: value = valueAt < data.count ? Int(data[base + valueAt]) : nil
            case 6: value = valueAt < data.count ? Int(Int8(bitPattern: data[base + valueAt])) : nil
            case 3: value = u16(valueAt)
            case 8: value = u16(valueAt).map { Int(Int16(truncatingIfNeeded: $0)) }
            case 4: value = u32(valueAt)
            default: value = u32(valueAt).map { Int(Int32(truncatingIfNeeded: $0)) }
            }
            if let value { found = value }  // a later duplicate wins, as in Pillow's dict
        }
        return found
    }

    /// The XMP fallback: the first `tiff:Orientation="N"` or `tiff:Orientation>N`.
    static func orientation(xmp: UnsafeBufferPointer<UInt8>) -> Int? {
        let key = Array("tiff:Orientation".utf8)
        guard xmp.count > key.count + 1 else { return nil }
        var i = xmp.startIndex
        let end = xmp.endIndex - key.count
        while i < end {
            if xmp[i] == key[0], xmp[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                if j < xmp.endIndex, xmp[j] == UInt8(ascii: "=") {
                    j += 1
                    guard j < xmp.endIndex, xmp[j] == UInt8(ascii: "\"") else {
                        i += 1
                        continue
                    }
                } else if j < xmp.endIndex, xmp[j] == UInt8(ascii: ">") {
                    // fallthrough to the digit
                } else {
                    i += 1
                    continue
                }
                j += 1
                if j < xmp.endIndex, xmp[j] >= UInt8(ascii: "0"), xmp[j] <= UInt8(ascii: "9") {
                    return Int(xmp[j] - UInt8(ascii: "0"))
                }
            }
            i += 1
        }
        return nil
    }

    /// Applies orientation `value` (2...8 transpose, anything else returns `image`) with
    /// Pillow's transposes: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
    /// 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90 (ImageOps.exif_transpose's table).
    static func apply(_ value: Int?, to image: Image8) -> Image8 {
        guard let value, (2...8).contains(value) else { return image }
        let w = image.width, h = image.height, c = image.channels
        let swaps = value >= 5
        let outW = swaps ? h : w
        let outH = swaps ? w : h
        // For output pixel (x, y), the source pixel (sx, sy) is sx = ax*x + bx*y + cx,
        // sy = ay*x + by*y + cy (Pillow's Transpose.c, written as one affine map).
        let (ax, bx, cx, ay, by, cy): (Int, Int, Int, Int, Int, Int)
        switch value {
        case 2: (ax, bx, cx, ay, by, cy) = (-1, 0, w - 1, 0, 1, 0)  // FLIP_LEFT_RIGHT
        case 3: (ax, bx, cx, ay, by, cy) = (-1, 0, w - 1, 0, -1, h - 1)  // ROTATE_180
        case 4: (ax, bx, cx, ay, by, cy) = (1, 0, 0, 0, -1, h - 1)  // FLIP_TOP_BOTTOM
        case 5: (ax, bx, cx, ay, by, cy) = (0, 1, 0, 1, 0, 0)  // TRANSPOSE
        case 6: (ax, bx, cx, ay, by, cy) = (0, 1, 0, -1, 0, h - 1)  // ROTATE_270
        case 7: (ax, bx, cx, ay, by, cy) = (0, -1, w - 1, -1, 0, h - 1)  // TRANSVERSE
        default: (ax, bx, cx, ay, by, cy) = (0, -1, w - 1, 1, 0, 0)  // 8: ROTATE_90
        }
        return Image8(width: outW, height: outH, channels: c) { out in
            image.pixels.withUnsafeBufferPointer { src in
                let s = src.baseAddress!, o = out.baseAddress!
                for y in 0..<outH {
                    var sx = bx * y + cx, sy = by * y + cy
                    var dst = o + y * outW * c
                    for _ in 0..<outW {
                        let p = s + (sy * w + sx) * c
                        if c == 1 {
                            dst[0] = p[0]
                        } else {
                            dst[0] = p[0]
                            dst[1] = p[1]
                            dst[2] = p[2]
                        }
                        dst += c
                        sx += ax
                        sy += ay
                    }
                }
            }
        }
    }
}
