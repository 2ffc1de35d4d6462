import Testing

@testable import NFImage

/// Decoded pixels against Pillow 13's, byte for byte.
///
/// JPEG: nfserve uses the system libjpeg-turbo 2.1.5 through TurboJPEG, Pillow 13 its bundled
/// libjpeg-turbo 3.x; both run the accurate integer IDCT (JDCT_ISLOW) with fancy upsampling,
/// whose C and SIMD implementations are bit-exact, so the tolerance is 0 for JPEG as well.
@Suite("Decoding matches Pillow")
struct DecodeFixtureTests {
    static let maxPixels = 50_000_000

    @Test("RGB and L pixels", arguments: Fixtures.decodable)
    func pixels(_ fixture: Fixtures.Case) throws {
        let image = try ImageDecoder.decode(Fixtures.bytes(fixture.file), maxPixels: Self.maxPixels)
        #expect(image.width == fixture.width)
        #expect(image.height == fixture.height)
        if let gray = fixture.gray_source {
            #expect(image.channels == (gray ? 1 : 3))
        }
        if let rgb = fixture.rgb {
            let reference = try Fixtures.bytes(rgb.file)
            let mine = image.converted(toChannels: 3)
            let difference = maxByteDifference(mine.pixels, reference)
            #expect(difference == 0, "RGB differs from Pillow by up to \(String(describing: difference))")
        }
        if let l = fixture.l {
            let reference = try Fixtures.bytes(l.file)
            let mine = image.converted(toChannels: 1)
            let difference = maxByteDifference(mine.pixels, reference)
            #expect(difference == 0, "L differs from Pillow by up to \(String(describing: difference))")
        }
    }

    @Test("The header agrees with the decoded image", arguments: Fixtures.decodable)
    func header(_ fixture: Fixtures.Case) throws {
        let bytes = try Fixtures.bytes(fixture.file)
        let header = try ImageDecoder.header(bytes)
        let image = try ImageDecoder.decode(bytes, maxPixels: Self.maxPixels)
        #expect(header.format == (fixture.isJPEG ? .jpeg : .png))
        #expect(header.pixelCount == image.width * image.height)
        #expect(header.channels == image.channels)
        // A 90-degree EXIF orientation swaps the sides; the limit only uses their product.
        #expect(Set([header.width, header.height]) == Set([image.width, image.height]))
    }

    @Test("The pixel limit is inclusive and checked before decoding")
    func pixelLimit() throws {
        let bytes = try Fixtures.bytes("astronaut_96_q90_420.jpg")
        _ = try ImageDecoder.decode(bytes, maxPixels: 96 * 96)
        #expect(throws: ImageError.tooManyPixels(width: 96, height: 96, limit: 96 * 96 - 1)) {
            try ImageDecoder.decode(bytes, maxPixels: 96 * 96 - 1)
        }
        let png = try Fixtures.bytes("camera_64_gray8.png")
        #expect(throws: ImageError.tooManyPixels(width: 64, height: 64, limit: 1000)) {
            try ImageDecoder.decode(png, maxPixels: 1000)
        }
    }
}

@Test("The Swift JPEG header walk agrees with tjDecompressHeader3", arguments: Fixtures.decodable.filter(\.isJPEG))
func jpegHeaderAgreesWithLibjpeg(_ fixture: Fixtures.Case) throws {
    let bytes = try Fixtures.bytes(fixture.file)
    try bytes.withUnsafeBufferPointer { data in
        let mine = try JPEGDecoder.parse(data)
        let turbo = try #require(JPEGDecoder.turboJPEGHeader(data))
        #expect(mine.width == Int(turbo.width) && mine.height == Int(turbo.height))
        #expect((mine.components == 1) == (turbo.colorspace == 2))  // TJCS_GRAY
    }
}
