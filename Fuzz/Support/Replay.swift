import Foundation

/// The bytes libFuzzer hands `LLVMFuzzerTestOneInput`.
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// The `main` of a fuzz target built without libFuzzer: runs `harness` on every file named on
/// the command line, and on every file inside each folder named, and prints how many it ran.
/// A crash in a plain build reproduces a finding without the sanitizers.
public func replayCorpus(_ harness: ([UInt8]) -> Void) {
    var files: [String] = []
    for argument in CommandLine.arguments.dropFirst() {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            FileHandle.standardError.write(Data("no such file or folder: \(argument)\n".utf8))
            exit(2)
        }
        if isDirectory.boolValue {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
            files += children.sorted().map { argument + "/" + $0 }
        } else {
            files.append(argument)
        }
    }
    for file in files {
        guard let bytes = FileManager.default.contents(atPath: file) else { continue }
        harness([UInt8](bytes))
    }
    print("\(CommandLine.arguments[0]): replayed \(files.count) input(s) without a crash")
}
