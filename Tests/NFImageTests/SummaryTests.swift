import NFTensors
import Testing

@testable import NFImage

/// One line per category with the largest difference to the Pillow/timm references, printed
/// for the record (the per-case tests above are the ones that pin each case).
@Test("Largest differences to the references")
func largestDifferences() throws {
    var jpegPixels = 0, pngPixels = 0, tensors: Float = 0
    var jpegCount = 0, pngCount = 0, tensorCount = 0
    for fixture in Fixtures.decodable {
        let image = try ImageDecoder.decode(Fixtures.bytes(fixture.file), maxPixels: 50_000_000)
        for (reference, channels) in [(fixture.rgb, 3), (fixture.l, 1)] {
            guard let reference else { continue }
            let difference = try #require(
                maxByteDifference(
                    image.converted(toChannels: channels).pixels,
                    Fixtures.bytes(reference.file)))
            if fixture.isJPEG {
                jpegPixels = max(jpegPixels, difference)
                jpegCount += 1
            } else {
                pngPixels = max(pngPixels, difference)
                pngCount += 1
            }
        }
        for tensor in fixture.tensors ?? [] {
            let mine = try Fixtures.config(tensor.config).preprocessing()(image)
            let reference = Tensor(shape: tensor.shape, storage: try Fixtures.floats(tensor.file))
            tensors = max(tensors, mine.maxAbsDifference(reference))
            tensorCount += 1
        }
    }
    print(
        "NFImage vs Pillow 13 / timm 1.0.31: JPEG pixels max |diff| \(jpegPixels) over \(jpegCount) references, "
            + "PNG pixels \(pngPixels) over \(pngCount), tensors \(tensors) over \(tensorCount)")
    #expect(jpegPixels == 0 && pngPixels == 0)
    #expect(tensors <= 1e-5)
}
