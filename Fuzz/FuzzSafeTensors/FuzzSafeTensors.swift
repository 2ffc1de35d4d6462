import NFCheckpoint
import NFFuzzSupport

// Fuzz target: a safetensors file (8-byte header length, JSON header, data), as a checkpoint
// folder's model.safetensors is read: header validated, then every tensor converted to float32.

func fuzzOne(_ bytes: [UInt8]) {
    guard let file = try? SafeTensorsFile(bytes: bytes, name: "fuzz.safetensors") else { return }
    for name in file.names {
        _ = try? file.floats(name)
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
