import NFImage

/// How a dataset folder is laid out (docs/api.md "Datasets").
public enum DatasetLayout: String, Sendable, Codable {
    /// One sub-folder of images per class (torchvision's ImageFolder).
    case imagefolder
    /// Images directly in the folder, unlabelled.
    case flat
    /// An IDX pair, `*-images-idx3-ubyte[.gz]` with an optional `*-labels-idx1-ubyte[.gz]`.
    case idx
}

/// Why a dataset cannot be opened or one of its images read.
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A finite, indexable set of images, optionally labelled. Items are read on demand.
public protocol ImageDataset: Sendable {
    var name: String { get }
    var layout: DatasetLayout { get }
    var count: Int { get }
    /// The dataset's class names in label order (ImageFolder: sorted folder names), if it has any.
    var classNames: [String]? { get }
    var isLabelled: Bool { get }
    /// Image `index` (decoded, not converted) and its label, if labelled.
    func item(_ index: Int, maxPixels: Int) throws -> (image: Image8, label: Int?)
}
