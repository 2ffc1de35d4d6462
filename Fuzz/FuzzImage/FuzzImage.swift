import NFFuzzSupport
import NFImage

// Fuzz target: an uploaded image (JPEG through libjpeg-turbo with its EXIF orientation, PNG
// through libspng), decoded under a pixel limit and preprocessed as timm's eval transform
// does for a 3-channel 32x32 model (Pillow's resampling and center crop).

let preprocessing = try! Preprocessing(
    inputSize: [3, 32, 32], interpolation: "bicubic", cropPct: 0.875, cropMode: "center",
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

func fuzzOne(_ bytes: [UInt8]) {
    _ = try? ImageDecoder.header(bytes)
    guard let image = try? ImageDecoder.decode(bytes, maxPixels: 1 << 20) else { return }
    _ = preprocessing(image)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { replayCorpus(fuzzOne) } }
#endif
