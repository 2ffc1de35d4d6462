import Foundation
import NFTensors

/// The arithmetic a served model's execution plan runs in. Inputs and outputs stay FP32.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32, bf16, int8
}

/// What an execution plan is compiled to: FP32; bf16 convolutions (`BFloat16Convolution`; the
/// other steps FP32); or int8 convolutions with the ranges a calibration found.
public enum PlanPrecision: Sendable {
    case fp32
    case bf16
    case int8(Calibration)

    /// Where the plan keeps its activations between steps.
    var layout: PlanLayout {
        if case .int8 = self { return .channelsLast }
        return .blocked
    }
}

/// The ranges of every convolution's input over a calibration set (`nfserve calibrate`), kept
/// as `calibration.json` in the checkpoint folder, beside config.json:
///
///     {"format": 1, "method": "minmax", "dataset": "fashion-mnist", "images": 512, "seed": 0,
///      "inputs": {"layer1.0.conv1": {"min": 0, "max": 4.21}, ...}}
///
/// An int8 plan quantizes each convolution's input with the scale its range gives
/// (`ActivationRange.scale`).
public struct Calibration: Sendable, Equatable, Codable {
    public static let fileName = "calibration.json"
    public var format = 1
    /// How the ranges were chosen from what the images showed (`CalibrationMethod`).
    public var method: String
    public var dataset: String
    public var images: Int
    public var seed: UInt64?
    public var inputs: [String: ActivationRange]

    public init(method: String, dataset: String, images: Int, seed: UInt64? = nil, inputs: [String: ActivationRange]) {
        self.method = method
        self.dataset = dataset
        self.images = images
        self.seed = seed
        self.inputs = inputs
    }

    /// A range per convolution takes about 80 bytes (a 150-layer network: 12 KB); a larger file
    /// is refused before it is read.
    public static let maxFileBytes = 4 << 20

    /// The calibration in `folder`, or nil when it has none.
    public static func read(folder: String) throws -> Calibration? {
        let url = URL(fileURLWithPath: folder).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        guard size <= maxFileBytes else { throw CalibrationError("\(fileName): \(size) bytes; at most \(maxFileBytes)") }
        let calibration: Calibration
        do { calibration = try JSONDecoder().decode(Calibration.self, from: Data(contentsOf: url)) } catch {
            throw CalibrationError("\(fileName) cannot be read: \(error)")
        }
        guard calibration.format == 1 else { throw CalibrationError("\(fileName): unknown format \(calibration.format)") }
        for (name, range) in calibration.inputs where !(range.min.isFinite && range.max.isFinite && range.min <= range.max) {
            throw CalibrationError("\(fileName): the range of \(name) is not a finite interval")
        }
        return calibration
    }

    /// Writes it to `folder` (sorted keys: the same calibration gives the same bytes).
    public func write(folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: folder).appendingPathComponent(Self.fileName), options: .atomic)
    }
}

/// A precision that cannot be served, or a calibration that cannot be used.
public struct CalibrationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
