import CNFImageCodecs
import Foundation
import NFCheckpoint
import NFImage

/// MNIST's IDX format (yann.lecun.com/exdb/mnist): a big-endian header — two zero bytes, a type
/// code (0x08 = unsigned byte), the number of dimensions — then the dimensions as 32-bit
/// integers, then the data. Images are `[count, rows, cols]` (idx3), labels `[count]` (idx1).
/// Files may be gzip-compressed. Read whole into memory: Fashion-MNIST's training set is 47 MB.
public struct IDXDataset: ImageDataset {
    public let name: String
    public let count: Int
    public let rows: Int, columns: Int
    private let pixels: [UInt8]
    private let labels: [UInt8]?

    /// Files larger than this (inflated) are refused.
    static let maxBytes = 1 << 30

    public init(name: String, images: URL, labels: URL?) throws {
        self.name = name
        let imageBytes = try Self.read(images)
        let (imageDims, imageOffset) = try Self.header(imageBytes, rank: 3, file: images)
        (count, rows, columns) = (imageDims[0], imageDims[1], imageDims[2])
        // An image of no pixels cannot be served, nor one larger than a checkpoint may declare.
        let maxSide = PretrainedConfig.maxInputSide
        guard rows >= 1, columns >= 1, rows <= maxSide, columns <= maxSide else {
            throw DatasetError("\(images.path): images of \(rows)x\(columns) pixels; IDX images must be 1 to \(maxSide) pixels on each side")
        }
        // The header's dimensions are untrusted (each < 2^32): multiply without trapping.
        let (size, overflow1) = rows.multipliedReportingOverflow(by: columns)
        let (needed, overflow2) = count.multipliedReportingOverflow(by: size)
        let overflow = overflow1 || overflow2
        guard !overflow, imageBytes.count - imageOffset >= needed else {
            throw DatasetError(
                "\(images.path): \(count) images of \(rows)x\(columns) need \(overflow ? "more" : String(needed)) bytes, the file has \(imageBytes.count - imageOffset)"
            )
        }
        pixels = Array(imageBytes[imageOffset..<(imageOffset + needed)])
        if let labels {
            let labelBytes = try Self.read(labels)
            let (labelDims, labelOffset) = try Self.header(labelBytes, rank: 1, file: labels)
            guard labelDims[0] == count, labelBytes.count - labelOffset >= count else {
                throw DatasetError("\(labels.path) holds \(labelDims[0]) labels for \(count) images")
            }
            self.labels = Array(labelBytes[labelOffset..<(labelOffset + count)])
        } else {
            self.labels = nil
        }
    }

    static func read(_ url: URL) throws -> [UInt8] {
        var buffer: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: 512)
        let rc = nf_gunzip_file(url.path, maxBytes, &buffer, &length, &message, message.count)
        guard rc == 0, let buffer else {
            throw DatasetError(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { free(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: length))
    }

    /// The item count from the file's header alone (no inflating of the data).
    public static func count(of url: URL, rank: Int) throws -> Int {
        var prefix = [UInt8](repeating: 0, count: 4 + 4 * rank)
        let n = nf_gunzip_prefix(url.path, &prefix, UInt32(prefix.count))
        guard n == prefix.count else { throw DatasetError("\(url.path) is too short for an IDX header") }
        return try header(prefix, rank: rank, file: url).dims[0]
    }

    static func header(_ bytes: [UInt8], rank: Int, file: URL) throws -> (dims: [Int], offset: Int) {
        let offset = 4 + 4 * rank
        guard bytes.count >= offset, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, Int(bytes[3]) == rank else {
            throw DatasetError("\(file.path) is not an IDX file of unsigned bytes with \(rank) dimension(s)")
        }
        let dims = (0..<rank).map { d in bytes[(4 + 4 * d)..<(8 + 4 * d)].reduce(0) { $0 << 8 | Int($1) } }
        return (dims, offset)
    }

    public var layout: DatasetLayout { .idx }
    public var classNames: [String]? { nil }
    public var isLabelled: Bool { labels != nil }

    public func item(_ index: Int, maxPixels: Int) throws -> (image: Image8, label: Int?) {
        let size = rows * columns
        let image = Image8(
            width: columns, height: rows, channels: 1,
            pixels: Array(pixels[(index * size)..<((index + 1) * size)]))
        return (image, labels.map { Int($0[index]) })
    }
}
