import Foundation
import NFImage

let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

func imageFiles(in folder: URL) -> [URL] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
        .sorted().map { folder.appendingPathComponent($0) }
}

func subdirectories(of folder: URL) -> [URL] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }.filter { url in
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
    }
}

func decodeFile(_ url: URL, maxPixels: Int) throws -> Image8 {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw DatasetError("cannot read \(url.path)")
    }
    do {
        return try ImageDecoder.decode([UInt8](data), maxPixels: maxPixels)
    } catch {
        throw DatasetError("\(url.path): \(error)")
    }
}

/// torchvision's ImageFolder: one sub-folder per class, classes in sorted order, files sorted.
public struct ImageFolderDataset: ImageDataset {
    public let name: String
    public let classNames: [String]?
    private let files: [(url: URL, label: Int)]

    public init(name: String, folder: URL) {
        self.name = name
        let classes = subdirectories(of: folder)
        classNames = classes.map(\.lastPathComponent)
        var files: [(URL, Int)] = []
        for (label, dir) in classes.enumerated() { files += imageFiles(in: dir).map { ($0, label) } }
        self.files = files
    }

    public var layout: DatasetLayout { .imagefolder }
    public var count: Int { files.count }
    public var isLabelled: Bool { true }

    public func item(_ index: Int, maxPixels: Int) throws -> (image: Image8, label: Int?) {
        (try decodeFile(files[index].url, maxPixels: maxPixels), files[index].label)
    }
}

/// A folder of images without labels.
public struct FlatFolderDataset: ImageDataset {
    public let name: String
    private let files: [URL]

    public init(name: String, folder: URL) {
        self.name = name
        files = imageFiles(in: folder)
    }

    public var layout: DatasetLayout { .flat }
    public var count: Int { files.count }
    public var classNames: [String]? { nil }
    public var isLabelled: Bool { false }

    public func item(_ index: Int, maxPixels: Int) throws -> (image: Image8, label: Int?) {
        (try decodeFile(files[index], maxPixels: maxPixels), nil)
    }
}
