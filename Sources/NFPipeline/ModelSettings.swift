import Foundation
import NFCheckpoint
import NFModels

/// How a model is served, from `nfserve.json` in its checkpoint folder (beside config.json), so
/// that a KServe runtime or a Docker image carries it with the weights:
///
///     {"max_batch_size": 8, "max_batch_delay_ms": 2, "priority": 1, "latency_target_ms": 20, "precision": "int8"}
///
/// Every field is optional; the server's flags for the model (`--model-batching`, `--priority`,
/// `--latency-target-ms`) override the file, which overrides the server's defaults. An unknown
/// field or a value out of range fails the model's load with a message naming it (a typo must
/// not pass silently).
public struct ModelSettings: Sendable, Equatable {
    public static let fileName = "nfserve.json"
    /// The bounds of each field (the flags check the same).
    public static let batchSizes = 1...64
    public static let delaysMs = 0.0...1000.0
    public static let priorities = -1000...1000
    public static let latencyTargetsMs = 0.0...60000.0

    /// Four settings take a few dozen bytes; a larger file is refused before it is read.
    public static let maxFileBytes = 64 << 10

    public var maxBatchSize: Int?
    public var maxBatchDelay: Duration?
    public var priority: Int?
    public var latencyTarget: Duration?
    /// The arithmetic of its unobserved passes (`--precision` overrides it).
    public var precision: Precision?

    public init(
        maxBatchSize: Int? = nil, maxBatchDelay: Duration? = nil, priority: Int? = nil, latencyTarget: Duration? = nil,
        precision: Precision? = nil
    ) {
        self.maxBatchSize = maxBatchSize
        self.maxBatchDelay = maxBatchDelay
        self.priority = priority
        self.latencyTarget = latencyTarget
        self.precision = precision
    }

    /// The settings in `folder`'s `nfserve.json`; none when it has no such file.
    public static func read(folder: String) throws -> ModelSettings {
        let path = URL(fileURLWithPath: folder).appendingPathComponent(fileName).path
        guard FileManager.default.fileExists(atPath: path) else { return ModelSettings() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxFileBytes else { throw ModelSettingsError("\(size) bytes; at most \(maxFileBytes)") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelSettingsError("cannot read it: \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONDecoder().decode(JSONValue.self, from: data) } catch { throw ModelSettingsError("not JSON") }
        guard let object = json.objectValue else { throw ModelSettingsError("not a JSON object") }
        return try ModelSettings(json: object)
    }

    public init(json: [String: JSONValue]) throws {
        let known: Set = ["max_batch_size", "max_batch_delay_ms", "priority", "latency_target_ms", "precision"]
        if let unknown = json.keys.sorted().first(where: { !known.contains($0) }) {
            throw ModelSettingsError("unknown field \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let value = json[key], !value.isNull else { return nil }
            guard let number = value.intValue, range.contains(number) else {
                throw ModelSettingsError("\"\(key)\" must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        func milliseconds(_ key: String, _ range: ClosedRange<Double>) throws -> Duration? {
            guard let value = json[key], !value.isNull else { return nil }
            guard let number = value.doubleValue, range.contains(number) else {
                throw ModelSettingsError("\"\(key)\" must be a number of milliseconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return .microseconds(Int64((number * 1000).rounded()))
        }
        var precision: Precision?
        if let value = json["precision"], !value.isNull {
            guard let name = value.stringValue, let known = Precision(rawValue: name) else {
                throw ModelSettingsError("\"precision\" must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            precision = known
        }
        self.init(
            maxBatchSize: try integer("max_batch_size", Self.batchSizes),
            maxBatchDelay: try milliseconds("max_batch_delay_ms", Self.delaysMs),
            priority: try integer("priority", Self.priorities),
            latencyTarget: try milliseconds("latency_target_ms", Self.latencyTargetsMs),
            precision: precision)
    }
}

/// A model folder's `nfserve.json` could not be used.
public struct ModelSettingsError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { "\(ModelSettings.fileName): \(reason)" }
}
