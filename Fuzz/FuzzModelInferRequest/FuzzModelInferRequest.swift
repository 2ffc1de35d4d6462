import Foundation
import NFFuzzSupport
import NFRequestFormats
import SwiftProtobuf

// Fuzz target: a gRPC `ModelInfer` message as the server receives it: protobuf bytes decoded into
// `Inference_ModelInferRequest` (swift-protobuf), turned into the same `InferenceRequest` the HTTP
// bodies become, and every input made into the pipeline's input (an FP32 tensor from typed or raw
// contents, or encoded images from BYTES), every count and shape untrusted.

let requirements = InputRequirements(channels: 1, minimumSize: 4, maximumSize: 4096, maxBatch: 64)

func fuzzOne(_ bytes: [UInt8]) {
    guard let message = try? Inference_ModelInferRequest(serializedBytes: bytes) else { return }
    guard let request = try? InferenceRequest(message) else { return }
    for input in request.inputs {
        _ = try? input.tensor(requirements)
        _ = try? input.encodedImages(maxImages: 64)
    }
    for output in request.outputs ?? [] { _ = output.parameters?["classification"]?.integer }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { replayCorpus(fuzzOne) } }
#endif
