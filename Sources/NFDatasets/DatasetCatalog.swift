import Foundation

/// What `GET /datasets` reports of a dataset.
public struct DatasetSummary: Sendable, Codable, Equatable {
    public let name: String
    public let layout: DatasetLayout
    public let images: Int
    public let labelled: Bool
    public let classes: [String]?
}

/// The datasets nfserve sees: each sub-folder of `--datasets` (its layout recognised from its
/// files) plus, when Debian's `dataset-fashion-mnist` is installed, `fashion-mnist-test` and
/// `fashion-mnist-train`.
public struct DatasetCatalog: Sendable {
    public static let debianFashionMNIST = "/usr/share/datasets/fashion-mnist"
    public static let debianNames = ["fashion-mnist-test": "t10k", "fashion-mnist-train": "train"]

    public let root: String
    public let debianRoot: String

    public init(root: String, debianRoot: String = DatasetCatalog.debianFashionMNIST) {
        self.root = root
        self.debianRoot = debianRoot
    }

    /// Dataset names, sorted (folder datasets first take a name, then the Debian ones).
    public var names: [String] {
        var names = Set(subdirectories(of: URL(fileURLWithPath: root)).map(\.lastPathComponent))
        for (name, prefix) in Self.debianNames where idxPair(in: URL(fileURLWithPath: debianRoot), prefix: prefix) != nil {
            names.insert(name)
        }
        return names.sorted()
    }

    /// Opens a dataset by its name only (a folder directly inside the root, or a Debian name),
    /// never by path: what a server takes from a client.
    public func open(name: String) throws -> any ImageDataset {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), names.contains(name) else {
            throw DatasetError("no dataset \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
        return try open(name)
    }

    /// Opens a dataset by name (inside the root, or a Debian name) or by folder path.
    public func open(_ nameOrPath: String) throws -> any ImageDataset {
        var isDir: ObjCBool = false
        let inRoot = URL(fileURLWithPath: root).appendingPathComponent(nameOrPath)
        if !nameOrPath.contains("/"), FileManager.default.fileExists(atPath: inRoot.path, isDirectory: &isDir), isDir.boolValue {
            return try Self.open(folder: inRoot, name: nameOrPath)
        }
        if let prefix = Self.debianNames[nameOrPath], let pair = idxPair(in: URL(fileURLWithPath: debianRoot), prefix: prefix) {
            return try IDXDataset(name: nameOrPath, images: pair.images, labels: pair.labels)
        }
        if FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDir), isDir.boolValue {
            let url = URL(fileURLWithPath: nameOrPath)
            return try Self.open(folder: url, name: url.lastPathComponent)
        }
        throw DatasetError("no dataset \"\(nameOrPath)\" (known: \(names.joined(separator: ", ")))")
    }

    /// The folder's dataset: IDX when it holds an images file, ImageFolder when it has
    /// sub-folders, else a flat folder of images.
    public static func open(folder: URL, name: String) throws -> any ImageDataset {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        if let imagesFile = files.first(where: { $0.contains("-images-idx3-ubyte") }),
            let prefix = imagesFile.components(separatedBy: "-images-idx3-ubyte").first,
            let pair = idxPair(in: folder, prefix: prefix)
        {
            return try IDXDataset(name: name, images: pair.images, labels: pair.labels)
        }
        if !subdirectories(of: folder).isEmpty { return ImageFolderDataset(name: name, folder: folder) }
        return FlatFolderDataset(name: name, folder: folder)
    }

    /// Every dataset, summarized without reading its images (IDX counts come from the headers);
    /// one that cannot be read is left out.
    public func summaries() -> [DatasetSummary] {
        names.compactMap { name in
            if let prefix = Self.debianNames[name],
                !FileManager.default.fileExists(atPath: URL(fileURLWithPath: root).appendingPathComponent(name).path),
                let pair = idxPair(in: URL(fileURLWithPath: debianRoot), prefix: prefix)
            {
                return try? Self.idxSummary(name: name, pair: pair)
            }
            let folder = URL(fileURLWithPath: root).appendingPathComponent(name)
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
            if let imagesFile = files.first(where: { $0.contains("-images-idx3-ubyte") }),
                let prefix = imagesFile.components(separatedBy: "-images-idx3-ubyte").first,
                let pair = idxPair(in: folder, prefix: prefix)
            {
                return try? Self.idxSummary(name: name, pair: pair)
            }
            guard let d = try? Self.open(folder: folder, name: name) else { return nil }
            return DatasetSummary(name: name, layout: d.layout, images: d.count, labelled: d.isLabelled, classes: d.classNames)
        }
    }

    static func idxSummary(name: String, pair: (images: URL, labels: URL?)) throws -> DatasetSummary {
        DatasetSummary(
            name: name, layout: .idx, images: try IDXDataset.count(of: pair.images, rank: 3),
            labelled: pair.labels != nil, classes: nil)
    }
}

func idxPair(in folder: URL, prefix: String) -> (images: URL, labels: URL?)? {
    func existing(_ base: String) -> URL? {
        [base, base + ".gz"].map { folder.appendingPathComponent($0) }.first { FileManager.default.fileExists(atPath: $0.path) }
    }
    guard let images = existing("\(prefix)-images-idx3-ubyte") else { return nil }
    return (images, existing("\(prefix)-labels-idx1-ubyte"))
}
