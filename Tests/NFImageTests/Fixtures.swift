import Foundation

@testable import NFImage

/// Tests/Fixtures/images, written by tools/reference/make_image_fixtures.py (Pillow 13 +
/// timm 1.0.31 references). Read with plain Foundation: a JSON manifest and raw
/// little-endian .bin files.
enum Fixtures {
    struct Array: Decodable, Sendable {
        let file: String
        let shape: [Int]
        let dtype: String
    }

    struct TensorReference: Decodable, Sendable {
        let config: String
        let file: String
        let shape: [Int]
    }

    struct Case: Decodable, Sendable, CustomStringConvertible {
        let name: String
        let file: String
        let source: String
        let expect: String
        let pillow: String?
        let pillow_mode: String?
        let width: Int?
        let height: Int?
        let gray_source: Bool?
        let detail: String?
        let rgb: Array?
        let l: Array?
        let tensors: [TensorReference]?

        var description: String { name }
        var isJPEG: Bool { file.hasSuffix(".jpg") }
    }

    struct Config: Decodable, Sendable {
        let input_size: [Int]
        let interpolation: String
        let crop_pct: Double
        let crop_mode: String
        let mean: [Double]
        let std: [Double]

        func preprocessing() throws -> Preprocessing {
            try Preprocessing(
                inputSize: input_size, interpolation: interpolation, cropPct: crop_pct,
                cropMode: crop_mode, mean: mean.map { Float($0) }, std: std.map { Float($0) })
        }
    }

    struct Manifest: Decodable, Sendable {
        let configs: [String: Config]
        let cases: [Case]
    }

    /// Pair of a decodable case and one of its reference tensors (a test argument).
    struct TensorCase: Sendable, CustomStringConvertible {
        let testCase: Case
        let tensor: TensorReference
        var description: String { "\(testCase.name) / \(tensor.config)" }
    }

    static let directory: URL = {
        if let override = ProcessInfo.processInfo.environment["NFIMAGE_FIXTURES"] {
            return URL(fileURLWithPath: override)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // NFImageTests
            .deletingLastPathComponent()  // Tests
            .appendingPathComponent("Fixtures/images")
    }()

    static let manifest: Manifest = {
        let url = directory.appendingPathComponent("manifest.json")
        do {
            return try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read the image fixtures at \(url.path): \(error) -- run tools/reference/make_image_fixtures.py")
        }
    }()

    static var decodable: [Case] { manifest.cases.filter { $0.expect == "ok" } }
    static var failing: [Case] { manifest.cases.filter { $0.expect != "ok" } }
    static var tensorCases: [TensorCase] {
        decodable.flatMap { c in (c.tensors ?? []).map { TensorCase(testCase: c, tensor: $0) } }
    }

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
    }

    static func floats(_ file: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        precondition(data.count % 4 == 0)
        return (0..<(data.count / 4)).map { i in
            let bits =
                UInt32(data[data.startIndex + 4 * i])
                | UInt32(data[data.startIndex + 4 * i + 1]) << 8
                | UInt32(data[data.startIndex + 4 * i + 2]) << 16
                | UInt32(data[data.startIndex + 4 * i + 3]) << 24
            return Float(bitPattern: bits)
        }
    }

    static func config(_ name: String) -> Config {
        guard let config = manifest.configs[name] else { fatalError("no fixture config \(name)") }
        return config
    }
}

/// Largest absolute difference between two byte arrays of equal length (nil if lengths differ).
func maxByteDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    guard a.count == b.count else { return nil }
    var worst = 0
    for i in 0..<a.count { worst = max(worst, abs(Int(a[i]) - Int(b[i]))) }
    return worst
}
