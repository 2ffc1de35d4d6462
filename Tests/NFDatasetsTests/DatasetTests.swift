import Foundation
import NFDatasets
import NFImage
import Testing

/// Dataset layouts read from files made here (IDX written byte by byte from the format's
/// definition) and from the shipped sample (datasets/fashion-mnist-sample, written by
/// tools/train/export_samples.py from Debian's Fashion-MNIST test set).
@Suite struct DatasetTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func temporaryFolder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-datasets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func bigEndian(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    @Test func idxPairIsReadWithLabels() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pixels: [UInt8] = (0..<(3 * 2 * 4)).map { UInt8($0 * 10) }
        try Data([0, 0, 8, 3] + bigEndian(3) + bigEndian(2) + bigEndian(4) + pixels)
            .write(to: dir.appendingPathComponent("x-images-idx3-ubyte"))
        try Data([0, 0, 8, 1] + bigEndian(3) + [7, 0, 9]).write(to: dir.appendingPathComponent("x-labels-idx1-ubyte"))
        let dataset = try DatasetCatalog.open(folder: dir, name: "tiny")
        #expect(dataset.layout == .idx && dataset.count == 3 && dataset.isLabelled)
        let (image, label) = try dataset.item(1, maxPixels: 100)
        #expect(image.width == 4 && image.height == 2 && image.channels == 1)
        #expect(image.pixels == Array(pixels[8..<16]))
        #expect(label == 0)
    }

    /// Found by libFuzzer (Fuzz/FuzzIDX, kept as Fuzz/corpus/FuzzIDX/regression-zero-rows): a
    /// header declaring images of 0 rows opened fine and trapped in `Image8` when an item was read.
    @Test func idxWithImagesOfNoPixelsIsAnError() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (rows, columns) in [(0, 3), (3, 0), (5000, 1)] {
            try Data([0, 0, 8, 3] + bigEndian(2) + bigEndian(rows) + bigEndian(columns) + [UInt8](repeating: 1, count: 2 * rows * columns))
                .write(to: dir.appendingPathComponent("z-images-idx3-ubyte"))
            #expect(throws: DatasetError.self, "\(rows)x\(columns)") { try DatasetCatalog.open(folder: dir, name: "zero") }
        }
    }

    @Test func idxWithWrongMagicOrShortDataIsAnError() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data([0, 0, 9, 3] + bigEndian(1) + bigEndian(1) + bigEndian(1) + [0]).write(to: dir.appendingPathComponent("a-images-idx3-ubyte"))
        #expect(throws: DatasetError.self) { try DatasetCatalog.open(folder: dir, name: "bad") }
        try Data([0, 0, 8, 3] + bigEndian(5) + bigEndian(2) + bigEndian(2) + [0, 1]).write(to: dir.appendingPathComponent("a-images-idx3-ubyte"))
        #expect { try DatasetCatalog.open(folder: dir, name: "bad") } throws: { "\($0)".contains("need 20 bytes") }
        // Hostile dimensions whose product would overflow 64 bits: an error, not a trap.
        let huge = bigEndian(0xFFFF_FFFF)
        try Data([0, 0, 8, 3] + huge + huge + huge + [0]).write(to: dir.appendingPathComponent("a-images-idx3-ubyte"))
        #expect { try DatasetCatalog.open(folder: dir, name: "bad") } throws: { "\($0)".contains("1 to 4096 pixels on each side") }
        try Data([0, 0, 8, 3] + huge + bigEndian(4096) + bigEndian(4096) + [0]).write(to: dir.appendingPathComponent("a-images-idx3-ubyte"))
        #expect { try DatasetCatalog.open(folder: dir, name: "bad") } throws: { "\($0)".contains("need 72057594021150720 bytes") }
    }

    @Test func shippedSampleIsAnImageFolder() throws {
        let catalog = DatasetCatalog(root: Self.repository.appendingPathComponent("datasets").path, debianRoot: "/nonexistent")
        #expect(catalog.names.contains("fashion-mnist-sample"))
        let dataset = try catalog.open("fashion-mnist-sample")
        #expect(dataset.layout == .imagefolder && dataset.count == 300)
        #expect(dataset.classNames?.first == "Ankle boot")
        let (image, label) = try dataset.item(0, maxPixels: 1000)
        #expect(image.width == 28 && image.height == 28 && image.channels == 1 && label == 0)
        let summary = catalog.summaries().first { $0.name == "fashion-mnist-sample" }
        #expect(summary?.images == 300 && summary?.labelled == true)
    }

    @Test func folderClassesMatchModelLabelsByName() {
        let model = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        let folders = model.map { $0.replacingOccurrences(of: "/", with: "-") }.sorted()
        let map = labelMapping(datasetClasses: folders, modelLabels: model)
        #expect(folders[0] == "Ankle boot" && map(0) == 9)
        #expect(map(folders.firstIndex(of: "T-shirt-top")!) == 0)
        // Names that do not all match fall back to sorted order.
        let other = labelMapping(datasetClasses: ["cat", "dog"], modelLabels: ["dog", "fish"])
        #expect(other(0) == 0 && other(1) == 1)
    }

    @Test func unknownDatasetNamesTheKnownOnes() {
        let catalog = DatasetCatalog(root: Self.repository.appendingPathComponent("datasets").path, debianRoot: "/nonexistent")
        #expect { try catalog.open("imagenet") } throws: { "\($0)".contains("fashion-mnist-sample") }
    }
}
