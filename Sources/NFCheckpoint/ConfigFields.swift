/// Typed access to one JSON object of `config.json`, with errors that give the field's full path
/// (`pretrained_cfg.crop_pct`) and what was found instead, so a user can fix the file by hand.
///
/// `null` counts as absent throughout: timm writes `None` defaults as `null` in older exports.
struct ConfigFields {
    let members: [String: JSONValue]
    /// Dotted prefix for messages, `""` at the top level.
    let path: String
    /// The file name for ``CheckpointError/invalidConfig(file:reason:)``.
    let file: String

    func has(_ key: String) -> Bool {
        if let value = members[key], value != .null { return true }
        return false
    }

    func value(_ key: String) -> JSONValue? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    func fieldName(_ key: String) -> String {
        "\"" + (path.isEmpty ? key : path + "." + key) + "\""
    }

    func error(_ message: String) -> CheckpointError {
        .invalidConfig(file: file, reason: message)
    }

    func wrongType(_ key: String, expected: String, got value: JSONValue) -> CheckpointError {
        error("\(fieldName(key)) must be \(expected), got \(value.kindDescription)")
    }

    func string(_ key: String) throws(CheckpointError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.stringValue else { throw wrongType(key, expected: "a string", got: value) }
        return text
    }

    func int(_ key: String, minimum: Int = .min) throws(CheckpointError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.intValue else { throw wrongType(key, expected: "an integer", got: value) }
        guard number >= minimum else { throw error("\(fieldName(key)) must be at least \(minimum), got \(number)") }
        return number
    }

    func double(_ key: String) throws(CheckpointError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.doubleValue else { throw wrongType(key, expected: "a number", got: value) }
        return number
    }

    func bool(_ key: String) throws(CheckpointError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.boolValue else { throw wrongType(key, expected: "true or false", got: value) }
        return flag
    }

    func intArray(_ key: String) throws(CheckpointError) -> [Int]? {
        guard let value = value(key) else { return nil }
        guard let numbers = value.intArray else { throw wrongType(key, expected: "an array of integers", got: value) }
        return numbers
    }

    /// A list of numbers; a bare number counts as a one-element list, as in timm's
    /// `resolve_input_data_config`.
    func doubleList(_ key: String) throws(CheckpointError) -> [Double]? {
        guard let value = value(key) else { return nil }
        if let number = value.doubleValue { return [number] }
        guard let numbers = value.doubleArray else { throw wrongType(key, expected: "an array of numbers", got: value) }
        return numbers
    }

    func object(_ key: String) throws(CheckpointError) -> [String: JSONValue]? {
        guard let value = value(key) else { return nil }
        guard let members = value.objectValue else { throw wrongType(key, expected: "an object", got: value) }
        return members
    }
}
