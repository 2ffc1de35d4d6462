/// Why a checkpoint's tensors do not fit the architecture built from its config.
public enum WeightLoadingError: Error, CustomStringConvertible, Sendable, Equatable {
    case missingKey(key: String, expectedShape: [Int])
    case shapeMismatch(key: String, expected: [Int], found: [Int])
    case unusedKeys([String])
    case unreadable(key: String, reason: String)

    public var description: String {
        switch self {
        case let .missingKey(key, shape):
            return "missing tensor \"\(key)\" (expected shape \(shape)): the checkpoint does not match the architecture in config.json"
        case let .shapeMismatch(key, expected, found):
            return "tensor \"\(key)\" has shape \(found) but the architecture in config.json expects \(expected)"
        case let .unusedKeys(keys):
            let shown = keys.prefix(8).map { "\"\($0)\"" }.joined(separator: ", ")
            let more = keys.count > 8 ? " and \(keys.count - 8) more" : ""
            return "\(keys.count) tensor(s) in the checkpoint are not used by the architecture in config.json: \(shown)\(more)"
        case let .unreadable(key, reason):
            return "tensor \"\(key)\" could not be read: \(reason)"
        }
    }
}
