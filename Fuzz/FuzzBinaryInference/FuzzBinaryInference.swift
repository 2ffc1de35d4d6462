import Foundation
import NFFuzzSupport
import NFRequestFormats

// Fuzz target: a body of Triton's binary tensor data extension, split and decoded as the server
// does before any inference. The first two bytes give the `Inference-Header-Content-Length`
// (little-endian; 0xFFFF: the header is absent), the rest is the body: the JSON header, the
// binary inputs (FP32 little-endian, BYTES as length-prefixed elements), every size untrusted.

let requirements = InputRequirements(channels: 1, minimumSize: 4, maximumSize: 4096, maxBatch: 64)

func fuzzOne(_ bytes: [UInt8]) {
    guard bytes.count >= 2 else { return }
    let length = Int(bytes[0]) | Int(bytes[1]) << 8
    let body = Array(bytes.dropFirst(2))
    guard let request = try? InferenceRequest.decode(body, headerLength: length == 0xFFFF ? nil : String(length)) else { return }
    for input in request.inputs {
        _ = try? input.tensor(requirements)
        _ = try? input.encodedImages(maxImages: 64)
    }
    for output in request.outputs ?? [] { _ = request.wantsBinary(output) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { replayCorpus(fuzzOne) } }
#endif
