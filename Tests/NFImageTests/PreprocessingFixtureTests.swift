import NFTensors
import Testing

@testable import NFImage

/// Preprocessed tensors against timm 1.0.31's eval transform (torchvision + Pillow).
/// The 8-bit resize/crop is expected to match exactly, so only float rounding may differ;
/// the normalisation repeats torch's float32 operations, so the observed difference is 0.
@Suite("Preprocessing matches timm")
struct PreprocessingFixtureTests {
    static let tolerance: Float = 1e-5

    @Test("Tensor within 1e-5", arguments: Fixtures.tensorCases)
    func tensor(_ item: Fixtures.TensorCase) throws {
        let preprocessing = try Fixtures.config(item.tensor.config).preprocessing()
        let image = try ImageDecoder.decode(Fixtures.bytes(item.testCase.file), maxPixels: 50_000_000)
        let mine = preprocessing(image)
        #expect(mine.shape == item.tensor.shape)
        let reference = Tensor(shape: item.tensor.shape, storage: try Fixtures.floats(item.tensor.file))
        let difference = mine.maxAbsDifference(reference)
        #expect(difference <= Self.tolerance, "max |difference| = \(difference)")
    }

    @Test("batch stacks the single-image tensors")
    func batch() throws {
        let preprocessing = try Fixtures.config("squash40").preprocessing()
        let a = try ImageDecoder.decode(Fixtures.bytes("astronaut_96_q90_420.jpg"), maxPixels: 1 << 24)
        let b = try ImageDecoder.decode(Fixtures.bytes("camera_96_gray.jpg"), maxPixels: 1 << 24)
        let stacked = preprocessing.batch([a, b])
        #expect(stacked.shape == [2, 3, 40, 40])
        #expect(Array(stacked.storage[0..<4800]) == preprocessing(a).storage)
        #expect(Array(stacked.storage[4800...]) == preprocessing(b).storage)
        #expect(preprocessing.batch([]).shape == [0, 3, 40, 40])
    }

    @Test("resizedAndCropped is the tensor before normalisation")
    func resizedAndCropped() throws {
        let config = Fixtures.config("border48")
        let preprocessing = try config.preprocessing()
        let image = try ImageDecoder.decode(Fixtures.bytes("chelsea_80x120_progressive_422.jpg"), maxPixels: 1 << 24)
        let crop = preprocessing.resizedAndCropped(image)
        let tensor = preprocessing(image)
        #expect(crop.width == 48 && crop.height == 48 && crop.channels == 3)
        for c in 0..<3 {
            for i in 0..<(48 * 48) {
                let v = Float(crop.pixels[i * 3 + c])
                let expected = (v / 255 - Float(config.mean[c])) / Float(config.std[c])
                if tensor.storage[c * 48 * 48 + i] != expected {
                    Issue.record("pixel \(i) channel \(c): \(tensor.storage[c * 48 * 48 + i]) != \(expected)")
                    return
                }
            }
        }
    }
}
