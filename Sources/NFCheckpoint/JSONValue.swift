/// A JSON document as plain data.
///
/// timm's `config.json` mixes fixed fields with free-form ones (`model_args` holds whatever the model
/// factory accepted), so configs are kept as a tree of values rather than decoded into fixed structs,
/// and `raw` fields hand the untouched tree to callers that need a field this module does not model.
/// Numbers are `Double`, like JavaScript's: every integer timm writes (sizes, class counts) is far
/// below 2^53 and so is represented exactly.
public enum JSONValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    // MARK: Accessors

    /// The number as an `Int`, when it is a number with no fractional part that fits in an `Int`.
    public var intValue: Int? {
        guard case let .number(value) = self else { return nil }
        return Int(exactly: value)
    }

    public var doubleValue: Double? {
        guard case let .number(value) = self else { return nil }
        return value
    }

    public var stringValue: String? {
        guard case let .string(value) = self else { return nil }
        return value
    }

    public var boolValue: Bool? {
        guard case let .bool(value) = self else { return nil }
        return value
    }

    public var arrayValue: [JSONValue]? {
        guard case let .array(value) = self else { return nil }
        return value
    }

    public var objectValue: [String: JSONValue]? {
        guard case let .object(value) = self else { return nil }
        return value
    }

    /// The array as `[Int]`, when every element is an integer (see ``intValue``).
    public var intArray: [Int]? {
        guard let array = arrayValue else { return nil }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let value = element.intValue else { return nil }
            result.append(value)
        }
        return result
    }

    /// The array as `[Double]`, when every element is a number.
    public var doubleArray: [Double]? {
        guard let array = arrayValue else { return nil }
        var result: [Double] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let value = element.doubleValue else { return nil }
            result.append(value)
        }
        return result
    }

    public var isNull: Bool { self == .null }

    /// The member `key` of an object; `nil` for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// What kind of value this is, with a short excerpt, for messages such as
    /// `"num_classes" must be an integer, got string "1000"`.
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case let .bool(value): return "boolean \(value)"
        case .number: return "number \(description)"
        case .string: return "string \(Self.excerpt(description))"
        case .array: return "array \(Self.excerpt(description))"
        case .object: return "object \(Self.excerpt(description))"
        }
    }

    private static func excerpt(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(37)) + "..."
    }

    // MARK: Parsing

    /// Parses a complete JSON document (RFC 8259, UTF-8). Duplicate object keys are rejected when
    /// `rejectDuplicateKeys` is set, as the safetensors spec requires for headers.
    static func parse(_ bytes: UnsafeRawBufferPointer, rejectDuplicateKeys: Bool) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, rejectDuplicateKeys: rejectDuplicateKeys)
        return try parser.parseDocument()
    }

    static func parse(_ bytes: [UInt8], rejectDuplicateKeys: Bool) throws(JSONParseError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) in try parse(raw, rejectDuplicateKeys: rejectDuplicateKeys) }
        }
        return try result.get()
    }

    // MARK: Codable

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .number(value):
            // Integral values go out as integers so that `3` does not come back as `3.0`.
            if let integer = Int64(exactly: value), abs(value) < 9_007_199_254_740_992 {
                try container.encode(integer)
            } else {
                try container.encode(value)
            }
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    // MARK: Serialization

    /// Compact JSON text with object keys sorted, so the same value always prints the same way.
    public var description: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(value): out += value ? "true" : "false"
        case let .number(value): out += Self.format(value)
        case let .string(value): out += Self.quote(value)
        case let .array(values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case let .object(members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                out += Self.quote(key)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// JSON has no NaN or infinity; they print as `null` (what JavaScript's `JSON.stringify` does)
    /// so that the output is always parseable.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if let integer = Int64(exactly: value), abs(value) < 9_007_199_254_740_992 {
            return String(integer)
        }
        return value.description
    }

    /// A JSON string literal for `text`, escaping what RFC 8259 requires.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
