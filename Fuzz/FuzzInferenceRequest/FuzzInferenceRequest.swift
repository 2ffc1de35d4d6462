import Foundation
import NFFuzzSupport
import NFRequestFormats

// Fuzz target: the body of an Open Inference Protocol `POST /v2/models/{m}/infer`, decoded and
// validated as the server does before any inference: FP32 inputs against a 1-channel model with
// a minimum side of 4, BYTES inputs as base64 images.

let requirements = InputRequirements(channels: 1, minimumSize: 4, maximumSize: 4096, maxBatch: 64)

func fuzzOne(_ bytes: [UInt8]) {
    guard let request = try? InferenceRequest.decode(Data(bytes)) else { return }
    for input in request.inputs {
        _ = try? input.tensor(requirements)
        _ = try? input.encodedImages(maxImages: 64)
    }
    for output in request.outputs ?? [] {
        for value in (output.parameters ?? [:]).values { _ = value.integer }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { replayCorpus(fuzzOne) } }
#endif
