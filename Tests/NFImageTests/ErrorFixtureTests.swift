import NFLayers
import Testing

@testable import NFImage

/// Broken files, oversized headers and other formats: the right ImageError, never a crash.
@Suite("Broken and unsupported files")
struct ErrorFixtureTests {
    @Test("Throws the expected ImageError kind", arguments: Fixtures.failing)
    func expectedError(_ fixture: Fixtures.Case) throws {
        let bytes = try Fixtures.bytes(fixture.file)
        do {
            let image = try ImageDecoder.decode(bytes, maxPixels: 50_000_000)
            Issue.record("decoded a \(image.width)x\(image.height) image, expected \(fixture.expect) (Pillow: \(fixture.pillow ?? "?"))")
        } catch let error as ImageError {
            #expect(error.kind == fixture.expect, "\(error)")
            switch error {
            case .unsupportedFormat(let what):
                #expect(what == fixture.detail)
                #expect(error.kind == "unsupportedFormat")
            case .tooManyPixels(let width, let height, let limit):
                #expect(width == fixture.width && height == fixture.height && limit == 50_000_000)
                #expect(error.kind == "tooManyPixels")
            case .corrupt, .empty:
                #expect(["corrupt", "empty"].contains(error.kind))
            }
            #expect(!error.description.isEmpty)
        }
    }

    @Test("A huge header is answered from the header alone")
    func hugeHeaders() throws {
        for (file, side) in [("png_huge_header.png", 100_000), ("jpeg_huge_header.jpg", 60_000)] {
            let bytes = try Fixtures.bytes(file)
            let header = try ImageDecoder.header(bytes)
            #expect(header.width == side && header.height == side)
            #expect(throws: ImageError.tooManyPixels(width: side, height: side, limit: Int(Int32.max))) {
                try ImageDecoder.decode(bytes, maxPixels: Int(Int32.max))
            }
        }
    }

    /// A JPEG cut anywhere is refused (Pillow: "image file is truncated"). A PNG cut after the
    /// data of its last IDAT chunk (its CRC and IEND missing) decodes, as in Pillow; cut
    /// earlier, it is refused (Pillow also accepts a zlib stream missing only its Adler-32).
    @Test("Every prefix of a JPEG or PNG fails cleanly, except a PNG with all its image data")
    func everyTruncation() throws {
        for file in [
            "coffee_113x75_q95_420_odd.jpg", "gray_alpha16.png", "chelsea_80x120_progressive_422.jpg",
            "rgb8_interlaced.png",
        ] {
            let bytes = try Fixtures.bytes(file)
            // End of the last IDAT's data (= start of its CRC, 8 bytes before "IEND") for PNGs.
            let dataEnd = file.hasSuffix(".png") ? lastIndex(of: Array("IEND".utf8), in: bytes)! - 8 : bytes.count
            let step = max(1, bytes.count / 97)
            for length in Array(stride(from: 0, to: bytes.count, by: step)) + Array(max(0, dataEnd - 6)..<bytes.count) {
                do {
                    _ = try ImageDecoder.decode(Array(bytes[0..<length]), maxPixels: 1 << 20)
                    if length < dataEnd {
                        Issue.record("\(file) cut to \(length) of \(bytes.count) bytes decoded")
                    }
                } catch let error as ImageError {
                    #expect(error.kind == (length == 0 ? "empty" : "corrupt"), "\(file) cut to \(length): \(error)")
                }
            }
        }
    }

    @Test("Flipped bytes never crash")
    func flippedBytes() throws {
        var generator = SplitMix64(seed: 7)
        for file in ["astronaut_96_q90_420.jpg", "chelsea_80x60_palette.png", "rgb16.png"] {
            let original = try Fixtures.bytes(file)
            for _ in 0..<40 {
                var bytes = original
                for _ in 0..<3 {
                    let at = Int(generator.next() % UInt64(bytes.count))
                    bytes[at] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                }
                do {
                    let image = try ImageDecoder.decode(bytes, maxPixels: 1 << 22)
                    #expect(image.pixels.count == image.width * image.height * image.channels)
                } catch let error as ImageError {
                    #expect(["empty", "corrupt", "unsupportedFormat", "tooManyPixels"].contains(error.kind))
                }
            }
        }
    }
}

func lastIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    for i in stride(from: haystack.count - needle.count, through: 0, by: -1)
    where haystack[i..<(i + needle.count)].elementsEqual(needle) {
        return i
    }
    return nil
}
