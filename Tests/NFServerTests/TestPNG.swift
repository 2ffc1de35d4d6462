import Foundation

/// Minimal PNG encoder for test images: 8-bit gray or RGB, unfiltered scanlines in stored
/// (uncompressed) deflate blocks -- valid PNG that every decoder reads, built without a codec.
enum TestPNG {
    /// A `width`x`height` image; `pixel(x, y)` gives 1 (gray) or 3 (RGB) samples.
    static func encode(width: Int, height: Int, channels: Int = 1, pixel: (Int, Int) -> [UInt8]) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)  // filter type None
            for x in 0..<width { raw += pixel(x, y) }
        }
        return header(width: width, height: height, channels: channels) + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }

    /// A gradient with a bright square, so that images differ from each other.
    static func sample(width: Int = 20, height: Int = 24, seed: Int = 0) -> [UInt8] {
        encode(width: width, height: height) { x, y in
            let inSquare = (4..<12).contains(x - seed % 6) && (6..<14).contains(y)
            return [inSquare ? 250 : UInt8((x * 7 + y * 3 + seed * 40) % 200)]
        }
    }

    /// Signature and IHDR only: a header that claims `width`x`height` (the pixel limit is
    /// checked from it before any decoding).
    static func header(width: Int, height: Int, channels: Int = 1) -> [UInt8] {
        var ihdr = be32(width) + be32(height)
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]  // bit depth, color type, compression, filter, interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(data.count) + body + be32(Int(crc32(body)))
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let count = min(65535, data.count - offset)
            let final: UInt8 = offset + count == data.count ? 1 : 0
            out += [final, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
            out += data[offset..<(offset + count)]
            offset += count
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return out + be32(Int(b << 16 | a))
    }

    private static func be32(_ value: Int) -> [UInt8] {
        [UInt8((value >> 24) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
