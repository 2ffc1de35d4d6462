import NFCheckpoint
import NFFuzzSupport
import NFLayers
import NFModels

// Fuzz target: a checkpoint folder's config.json, with its model_args and pretrained_cfg,
// parsed and built into an architecture as a load does. The weights come from an empty
// safetensors file, so building stops at the first tensor the architecture asks for (as a
// checkpoint without that tensor would) and no fuzzed width can allocate weights.

/// A safetensors file with no tensors: `{}` as its header.
let emptyCheckpoint: SafeTensorsFile = {
    let header = Array("{}      ".utf8)
    let length = UInt64(header.count)
    let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }
    return try! SafeTensorsFile(bytes: prefix + header, name: "empty.safetensors")
}()

func fuzzOne(_ bytes: [UInt8]) {
    guard let config = try? ModelConfig(jsonData: bytes) else { return }
    _ = try? CheckpointFolder.build(config: config, weights: SafeTensorsWeightSource(file: emptyCheckpoint))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { replayCorpus(fuzzOne) } }
#endif
