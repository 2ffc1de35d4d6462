import Foundation
import NFDatasets
import NFFuzzSupport

// Fuzz target: an IDX dataset (MNIST's format, optionally gzip-compressed), as a dataset
// folder's `*-images-idx3-ubyte[.gz]` and `*-labels-idx1-ubyte[.gz]` are read. The input's
// first two bytes give the length of the labels file (little-endian, 0 for none); the labels
// follow, then the images. Both go through files, as the server reads them (gunzip included).

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-fuzz-idx-\(getpid())")
let imagesFile = folder.appendingPathComponent("images-idx3-ubyte")
let labelsFile = folder.appendingPathComponent("labels-idx1-ubyte")

func fuzzOne(_ bytes: [UInt8]) {
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let labelLength = bytes.count >= 2 ? Int(bytes[0]) | Int(bytes[1]) << 8 : 0
    let rest = bytes.dropFirst(2)
    let labels = rest.prefix(labelLength)
    let images = rest.dropFirst(labelLength)
    guard (try? Data(images).write(to: imagesFile)) != nil,
        (try? Data(labels).write(to: labelsFile)) != nil
    else { return }
    guard let dataset = try? IDXDataset(name: "fuzz", images: imagesFile, labels: labelLength > 0 ? labelsFile : nil) else { return }
    _ = try? IDXDataset.count(of: imagesFile, rank: 3)
    for index in Set([0, dataset.count / 2, dataset.count - 1]) where index >= 0 && index < dataset.count {
        _ = try? dataset.item(index, maxPixels: 1 << 20)
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
