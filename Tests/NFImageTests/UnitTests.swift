import NFLayers
import NFTensors
import Testing

@testable import NFImage

@Suite("ImageError")
struct ImageErrorTests {
    // Each kind's HTTP status is the server's decision: NFServerTests' ErrorStatusTests.imageErrorStatuses.
    @Test func kinds() {
        #expect(ImageError.empty.kind == "empty")
        #expect(ImageError.corrupt("x").kind == "corrupt")
        #expect(ImageError.unsupportedFormat("GIF").kind == "unsupportedFormat")
        #expect(ImageError.tooManyPixels(width: 2, height: 3, limit: 5).kind == "tooManyPixels")
    }

    @Test func descriptions() {
        #expect(ImageError.unsupportedFormat("GIF").description.contains("GIF"))
        #expect(
            ImageError.tooManyPixels(width: 100000, height: 100000, limit: 50_000_000).description
                .contains("100000x100000"))
        #expect(PreprocessingError.unsupportedInterpolation("cubic").description.contains("bicubic"))
    }
}

@Suite("Format sniffing")
struct SniffTests {
    @Test func magicBytes() throws {
        #expect(try ImageDecoder.sniff([0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(try ImageDecoder.sniff([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(throws: ImageError.empty) { try ImageDecoder.sniff([]) }
        let cases: [(String, [UInt8])] = [
            ("GIF", Array("GIF89a....".utf8)),
            ("WebP", Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)),
            ("TIFF", [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]),
            ("HEIF", [0, 0, 0, 0x18] + Array("ftypheic".utf8)),
            ("AVIF", [0, 0, 0, 0x1C] + Array("ftypavif".utf8)),
            ("unknown", Array("hello, world".utf8)),
            ("unknown", [0xFF, 0xD8, 0x00]),
        ]
        for (name, bytes) in cases {
            #expect(throws: ImageError.unsupportedFormat(name)) { try ImageDecoder.sniff(bytes) }
        }
        #expect(throws: ImageError.self) { try ImageDecoder.sniff([0x89, 0x50, 0x4E]) }
    }
}

@Suite("Pillow convert")
struct ConvertTests {
    @Test func rgbToLUsesPillowsFixedPointLuma() {
        let pixels: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30, 7, 7, 7, 255, 255, 255]
        let image = Image8(width: 6, height: 1, channels: 3, pixels: pixels)
        let gray = image.converted(toChannels: 1)
        let expected = stride(from: 0, to: pixels.count, by: 3).map { i -> UInt8 in
            let v = UInt32(pixels[i]) * 19595 + UInt32(pixels[i + 1]) * 38470 + UInt32(pixels[i + 2]) * 7471 + 0x8000
            return UInt8(v >> 16)
        }
        #expect(gray.pixels == expected)
        #expect(gray.pixels == [76, 150, 29, 124, 7, 255])
        #expect(gray.converted(toChannels: 3).pixels == gray.pixels.flatMap { [$0, $0, $0] })
        #expect(image.converted(toChannels: 3) == image)
    }
}

@Suite("EXIF orientation")
struct ExifTests {
    /// A minimal TIFF block with one IFD0 entry.
    static func tiff(littleEndian: Bool, tag: UInt16 = 0x0112, type: UInt16 = 3, value: UInt32) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func u32(_ v: UInt32) -> [UInt8] {
            littleEndian ? u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) : u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF))
        }
        let header: [UInt8] = (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(8)
        let valueField: [UInt8] = type == 3 ? u16(UInt16(value)) + [0, 0] : u32(value)
        return header + u16(1) + u16(tag) + u16(type) + u32(1) + valueField + u32(0)
    }

    @Test func parsesBothByteOrdersAndPrefixes() {
        for little in [true, false] {
            for value in 1...8 {
                let block = Self.tiff(littleEndian: little, value: UInt32(value))
                #expect(block.withUnsafeBufferPointer { ExifOrientation.orientation(exif: $0) } == value)
                let prefixed = Array("Exif\0\0".utf8) + block
                #expect(prefixed.withUnsafeBufferPointer { ExifOrientation.orientation(exif: $0) } == value)
            }
            let long = Self.tiff(littleEndian: little, type: 4, value: 6)
            #expect(long.withUnsafeBufferPointer { ExifOrientation.orientation(exif: $0) } == 6)
            let other = Self.tiff(littleEndian: little, tag: 0x0110, value: 6)
            #expect(other.withUnsafeBufferPointer { ExifOrientation.orientation(exif: $0) } == nil)
        }
        let garbage: [UInt8] = [0x49, 0x49, 42, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        #expect(garbage.withUnsafeBufferPointer { ExifOrientation.orientation(exif: $0) } == nil)
    }

    @Test func xmp() {
        func parse(_ s: String) -> Int? { Array(s.utf8).withUnsafeBufferPointer { ExifOrientation.orientation(xmp: $0) } }
        #expect(parse(#"<rdf:Description tiff:Orientation="6"/>"#) == 6)
        #expect(parse("<tiff:Orientation>3</tiff:Orientation>") == 3)
        #expect(parse(#"tiff:Orientation='6' tiff:Orientation="8""#) == 8)
        #expect(parse("no orientation here") == nil)
    }

    @Test func transposesMatchTheirDefinitions() {
        // 3 x 2 image with distinct values.
        let image = Image8(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        #expect(ExifOrientation.apply(1, to: image) == image)
        #expect(ExifOrientation.apply(2, to: image).pixels == [3, 2, 1, 6, 5, 4])
        #expect(ExifOrientation.apply(3, to: image).pixels == [6, 5, 4, 3, 2, 1])
        #expect(ExifOrientation.apply(4, to: image).pixels == [4, 5, 6, 1, 2, 3])
        #expect(ExifOrientation.apply(5, to: image).pixels == [1, 4, 2, 5, 3, 6])
        #expect(ExifOrientation.apply(6, to: image).pixels == [4, 1, 5, 2, 6, 3])
        #expect(ExifOrientation.apply(7, to: image).pixels == [6, 3, 5, 2, 4, 1])
        #expect(ExifOrientation.apply(8, to: image).pixels == [3, 6, 2, 5, 1, 4])
        #expect(ExifOrientation.apply(6, to: image).width == 2)
        #expect(ExifOrientation.apply(9, to: image) == image)
    }
}

@Suite("Preprocessing configuration")
struct PreprocessingConfigTests {
    static let mean: [Float] = [0.485, 0.456, 0.406]
    static let std: [Float] = [0.229, 0.224, 0.225]

    @Test func rejectsWhatItCannotReproduce() {
        #expect(throws: PreprocessingError.unsupportedInterpolation("cubic")) {
            try Preprocessing(
                inputSize: [3, 224, 224], interpolation: "cubic", cropPct: 0.875,
                cropMode: "center", mean: Self.mean, std: Self.std)
        }
        #expect(throws: PreprocessingError.unsupportedInterpolation("random")) {
            try Preprocessing(
                inputSize: [3, 224, 224], interpolation: "random", cropPct: 0.875,
                cropMode: "center", mean: Self.mean, std: Self.std)
        }
        #expect(throws: PreprocessingError.unsupportedCropMode("zoom")) {
            try Preprocessing(
                inputSize: [3, 224, 224], interpolation: "bicubic", cropPct: 0.875,
                cropMode: "zoom", mean: Self.mean, std: Self.std)
        }
        #expect(throws: PreprocessingError.invalidInputSize([4, 224, 224])) {
            try Preprocessing(
                inputSize: [4, 224, 224], interpolation: "bicubic", cropPct: 0.875,
                cropMode: "center", mean: Self.mean, std: Self.std)
        }
        #expect(throws: PreprocessingError.self) {
            try Preprocessing(
                inputSize: [1, 28, 28], interpolation: "bilinear", cropPct: 1,
                cropMode: "center", mean: Self.mean, std: Self.std)
        }
        #expect(throws: PreprocessingError.invalidCropPct(0)) {
            try Preprocessing(
                inputSize: [3, 224, 224], interpolation: "bicubic", cropPct: 0,
                cropMode: "center", mean: Self.mean, std: Self.std)
        }
    }

    @Test func geometryFollowsTimmAndTorchvision() throws {
        let p = try Preprocessing(
            inputSize: [3, 224, 224], interpolation: "bicubic", cropPct: 0.875,
            cropMode: "", mean: Self.mean, std: Self.std)
        #expect(p.cropMode == .center)
        #expect(p.scaleHeight == 256 && p.scaleWidth == 256)
        // torchvision: shorter side 256, longer int(256 * long / short).
        #expect(p.resizedSize(width: 640, height: 480) == (341, 256))
        #expect(p.resizedSize(width: 480, height: 640) == (256, 341))
        // torchvision center crop: int(round((size - crop) / 2.0)), half to even.
        #expect(Preprocessing.cropOffset(size: 341, crop: 224) == 58)  // 58.5 -> 58
        #expect(Preprocessing.cropOffset(size: 227, crop: 224) == 2)  // 1.5 -> 2
        #expect(Preprocessing.cropOffset(size: 225, crop: 224) == 0)  // 0.5 -> 0
        #expect(Preprocessing.cropOffset(size: 200, crop: 224) == -12)  // pad 12 before
        #expect(Preprocessing.cropOffset(size: 201, crop: 224) == -11)  // pad (23 // 2) before
        let q = try Preprocessing(
            inputSize: [3, 224, 224], interpolation: "bicubic", cropPct: 0.95,
            cropMode: "center", mean: Self.mean, std: Self.std)
        #expect(q.scaleHeight == 235)  // floor(224 / 0.95)
    }

    @Test func tinyAndExtremeImagesDoNotCrash() throws {
        for mode in ["center", "squash", "border"] {
            for interpolation in Interpolation.allCases {
                let p = try Preprocessing(
                    inputSize: [3, 16, 24], interpolation: interpolation.rawValue,
                    cropPct: 0.9, cropMode: mode, mean: Self.mean, std: Self.std)
                for (w, h) in [(1, 1), (1, 500), (500, 1), (7, 3)] {
                    let image = Image8(
                        width: w, height: h, channels: 1,
                        pixels: (0..<(w * h)).map { UInt8(truncatingIfNeeded: $0 * 37) })
                    let t = p(image)
                    #expect(t.shape == [1, 3, 16, 24])
                    #expect(t.storage.allSatisfy { $0.isFinite })
                }
            }
        }
    }
}

@Suite("Pillow resample")
struct ResampleTests {
    @Test func sameSizeIsACopy() {
        let image = Image8(width: 5, height: 4, channels: 3, pixels: (0..<60).map { UInt8($0 * 4) })
        for f in Interpolation.allCases {
            #expect(PillowResample.resize(image, width: 5, height: 4, interpolation: f) == image)
        }
    }

    @Test func windowEqualsCropOfFullResize() {
        var generator = SplitMix64(seed: 3)
        let pixels = (0..<(53 * 41 * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let image = Image8(width: 53, height: 41, channels: 3, pixels: pixels)
        for f in Interpolation.allCases {
            for (w, h) in [(30, 20), (80, 70), (53, 20), (30, 41)] {
                let full = PillowResample.resize(image, width: w, height: h, interpolation: f)
                let xs = (w / 4)..<(w - w / 5), ys = (h / 3)..<(h - 1)
                let window = PillowResample.resize(image, width: w, height: h, interpolation: f, xs: xs, ys: ys)
                #expect(window == PillowResample.crop(full, xs: xs, ys: ys), "\(f) \(w)x\(h)")
            }
        }
    }

    /// Bytes that differ between two images (all of them when their shapes differ).
    static func differingBytes(_ a: Image8, _ b: Image8) -> Int {
        guard a.width == b.width, a.height == b.height, a.channels == b.channels else { return max(a.pixels.count, b.pixels.count, 1) }
        return zip(a.pixels, b.pixels).filter { $0 != $1 }.count
    }

    /// The vectorised passes (`nf_resample_*_u8`) give the bytes of the plain Swift kernels, for
    /// every filter, grey and RGB, down and up, over all rows or columns and windows of them.
    @Test func fastPassesEqualThePlainKernels() {
        var generator = SplitMix64(seed: 11)
        // 75 rows: the horizontal pass works in strips of 32.
        for (channels, height) in [(1, 23), (3, 23), (3, 75)] {
            let width = 47
            let pixels = (0..<(width * height * channels)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let image = Image8(width: width, height: height, channels: channels, pixels: pixels)
            for f in Interpolation.allCases {
                guard let filter = PillowResample.Filter.named(f) else { continue }
                for (outSize, window) in [(20, 0..<20), (31, 5..<29), (141, 10..<120), (1, 0..<1)] {
                    let across = PillowResample.coefficients(inSize: width, outSize: outSize, filter: filter, window: window)
                    for rows in [0..<height, 4..<9, (height - 1)..<height] {
                        let fast = PillowResample.horizontalPass(image, rows: rows, coefficients: across)
                        let plain = PillowResample.horizontalPassReference(image, rows: rows, coefficients: across)
                        #expect(
                            Self.differingBytes(fast, plain) == 0,
                            "horizontal \(f), \(channels) channels, \(width) to \(outSize) \(window), rows \(rows)")
                    }
                    let window = window.clamped(to: 0..<outSize)
                    let down = PillowResample.coefficients(inSize: height, outSize: outSize, filter: filter, window: window)
                    // The pass reads the source rows its taps name, given from `rowOffset` on.
                    let offset = down.first.min()!, end = zip(down.first, down.count).map { $0 + $1 }.max()!
                    let rows = PillowResample.crop(image, xs: 0..<width, ys: offset..<end)
                    let fast = PillowResample.verticalPass(rows, rowOffset: offset, coefficients: down)
                    let plain = PillowResample.verticalPassReference(rows, rowOffset: offset, coefficients: down)
                    #expect(
                        Self.differingBytes(fast, plain) == 0, "vertical \(f), \(channels) channels, \(height) to \(outSize) \(window)")
                }
            }
        }
    }

    @Test func constantImageStaysConstant() {
        let image = Image8(width: 31, height: 17, channels: 1, pixels: [UInt8](repeating: 77, count: 31 * 17))
        for f in Interpolation.allCases {
            for (w, h) in [(7, 5), (64, 40), (31, 9)] {
                let out = PillowResample.resize(image, width: w, height: h, interpolation: f)
                #expect(out.pixels.allSatisfy { $0 == 77 }, "\(f) \(w)x\(h)")
            }
        }
    }
}

@Suite("JPEG header walk")
struct JPEGHeaderTests {
    /// SOI + (APP0 junk) + SOFn + optionally an empty SOS + EOI.
    static func jpeg(
        marker: UInt8 = 0xC0, precision: UInt8 = 8, width: UInt16 = 40, height: UInt16 = 30,
        components: UInt8 = 3, scan: Bool = true
    ) -> [UInt8] {
        var bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00]
        let length = 8 + 3 * Int(components)
        bytes += [
            0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF), precision,
            UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), components,
        ]
        for c in 0..<components { bytes += [c + 1, 0x11, 0] }
        if scan { bytes += [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0xFF, 0xD9] }
        return bytes
    }

    @Test func readsTheFrameHeader() throws {
        let header = try ImageDecoder.header(Self.jpeg(width: 640, height: 480, components: 1))
        #expect(header == ImageHeader(format: .jpeg, width: 640, height: 480, channels: 1))
        #expect(try ImageDecoder.header(Self.jpeg(marker: 0xC2, components: 4)).channels == 3)
    }

    @Test func unsupportedVariants() {
        #expect(throws: ImageError.unsupportedFormat("12-bit JPEG")) {
            try ImageDecoder.header(Self.jpeg(marker: 0xC1, precision: 12))
        }
        #expect(throws: ImageError.unsupportedFormat("lossless JPEG")) {
            try ImageDecoder.header(Self.jpeg(marker: 0xC3))
        }
        #expect(throws: ImageError.unsupportedFormat("JPEG with 2 colour components")) {
            try ImageDecoder.decode(Self.jpeg(components: 2), maxPixels: 1 << 20)
        }
    }

    @Test func aFileThatStopsAfterTheFrameHeader() throws {
        let bytes = Self.jpeg(width: 5000, height: 4000, scan: false)
        #expect(try ImageDecoder.header(bytes).pixelCount == 20_000_000)
        #expect(throws: ImageError.tooManyPixels(width: 5000, height: 4000, limit: 1_000_000)) {
            try ImageDecoder.decode(bytes, maxPixels: 1_000_000)
        }
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes, maxPixels: 50_000_000) }
        do {
            _ = try ImageDecoder.decode(bytes, maxPixels: 50_000_000)
        } catch let error as ImageError {
            #expect(error.kind == "corrupt")
        }
    }

    @Test func anEmptyScanIsCorruptNotACrash() {
        #expect(throws: ImageError.self) { try ImageDecoder.decode(Self.jpeg(), maxPixels: 1 << 20) }
    }
}
