import Foundation
import NFCheckpoint
import NFLayers

extension CheckpointFolder {
    /// Writes a copy of the checkpoint folder `source` to `destination` (which must not exist)
    /// whose BatchNorm running statistics are `statistics` (by layer name, the checkpoint key
    /// prefix): `model.safetensors` with every other tensor as it was (same names, dtypes, shapes
    /// and bytes), `running_mean` / `running_var` of those layers as F32, and `metadata` added to
    /// the file's `__metadata__`; every other file of the folder copied as it is. The folder is
    /// written beside `destination` and renamed into place, so a failure leaves nothing half made.
    public static func writeRecalibrated(
        from source: String, to destination: String, statistics: [String: RunningStatistics], metadata: [String: String] = [:]
    ) throws {
        let manager = FileManager.default
        guard !manager.fileExists(atPath: destination) else { throw ModelBuildError("\(destination) exists already; give a new folder") }
        let sourceURL = URL(fileURLWithPath: source).standardizedFileURL
        let file = try SafeTensorsFile(path: sourceURL.appendingPathComponent("model.safetensors").path)
        var replaced: Set<String> = []
        var tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])] = []
        for info in file.tensorInfos.sorted(by: { $0.dataRange.lowerBound < $1.dataRange.lowerBound }) {
            let (layer, key) = split(info.name)
            if let new = statistics[layer], key == "running_mean" || key == "running_var" {
                let values = key == "running_mean" ? new.mean : new.variance
                guard values.count == info.elementCount else {
                    throw ModelBuildError("\(info.name): \(values.count) recalibrated values for a tensor of \(info.elementCount)")
                }
                tensors.append((info.name, .F32, info.shape, values.withUnsafeBytes { Array($0) }))
                replaced.insert(info.name)
            } else {
                tensors.append((info.name, info.dtype, info.shape, try file.bytes(info.name)))
            }
        }
        for layer in statistics.keys.sorted() {
            for key in ["running_mean", "running_var"] where !replaced.contains("\(layer).\(key)") {
                throw ModelBuildError("the checkpoint has no \(layer).\(key) to replace")
            }
        }
        let parent = URL(fileURLWithPath: destination).standardizedFileURL.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(URL(fileURLWithPath: destination).lastPathComponent).partial-\(UUID().uuidString)")
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            for name in try manager.contentsOfDirectory(atPath: sourceURL.path).sorted() where name != "model.safetensors" && !name.hasPrefix(".") {
                let item = sourceURL.appendingPathComponent(name)
                // Links (the Hugging Face cache's snapshots) are followed: the copy stands alone.
                guard !item.isDirectoryFollowingLinksForCopy else { continue }
                try Data(contentsOf: item).write(to: staging.appendingPathComponent(name))
            }
            let bytes = SafeTensorsWriter.encode(tensors, metadata: file.metadata.merging(metadata) { $1 })
            try Data(bytes).write(to: staging.appendingPathComponent("model.safetensors"))
            try manager.moveItem(at: staging, to: URL(fileURLWithPath: destination))
        } catch {
            try? manager.removeItem(at: staging)
            throw error
        }
    }

    /// "layer1.0.bn1.running_mean" -> ("layer1.0.bn1", "running_mean").
    private static func split(_ name: String) -> (String, String) {
        guard let dot = name.lastIndex(of: ".") else { return ("", name) }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

extension URL {
    fileprivate var isDirectoryFollowingLinksForCopy: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
