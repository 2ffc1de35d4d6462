import NFCheckpoint

/// config.json `model_args`: the keyword arguments timm's `create_model(name, **model_args)`
/// would receive, read with types and defaults. Every key must be understood: an argument
/// nfserve would silently ignore could change the architecture timm builds.
public struct ModelArguments {
    private let values: [String: JSONValue]
    private var consumed: Set<String> = []
    private let architecture: String

    public init(_ values: [String: JSONValue], architecture: String) {
        self.values = values
        self.architecture = architecture
    }

    private func fail(_ key: String, _ expected: String) -> ModelBuildError {
        ModelBuildError("model_args \"\(key)\" of \(architecture) must be \(expected), got \(values[key]!)")
    }

    public mutating func int(_ key: String, default value: Int) throws -> Int {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return value }
        guard let v = raw.intValue else { throw fail(key, "an integer") }
        return v
    }

    public mutating func double(_ key: String, default value: Double) throws -> Double {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return value }
        guard let v = raw.doubleValue else { throw fail(key, "a number") }
        return v
    }

    public mutating func bool(_ key: String, default value: Bool) throws -> Bool {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return value }
        guard let v = raw.boolValue else { throw fail(key, "true or false") }
        return v
    }

    public mutating func string(_ key: String, default value: String) throws -> String {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return value }
        guard let v = raw.stringValue else { throw fail(key, "a string") }
        return v
    }

    public mutating func optionalString(_ key: String) throws -> String? {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return nil }
        guard let v = raw.stringValue else { throw fail(key, "a string") }
        return v
    }

    public mutating func ints(_ key: String, default value: [Int]) throws -> [Int] {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return value }
        guard let v = raw.intArray else { throw fail(key, "a list of integers") }
        return v
    }

    public mutating func object(_ key: String, default value: [String: JSONValue]) throws -> [String: JSONValue] {
        consumed.insert(key)
        guard let raw = values[key], raw != .null else { return value }
        guard let v = raw.objectValue else { throw fail(key, "an object") }
        return v
    }

    /// Arguments that only matter in training (dropout, stochastic depth, init): accepted, unused.
    public mutating func accept(_ keys: [String]) { consumed.formUnion(keys) }

    /// Throws if any argument was never read.
    public func finish() throws {
        let unknown = Set(values.keys).subtracting(consumed).sorted()
        if !unknown.isEmpty {
            throw ModelBuildError(
                "model_args \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")) not supported for \(architecture) (supported: \(consumed.sorted().joined(separator: ", ")))"
            )
        }
    }
}
