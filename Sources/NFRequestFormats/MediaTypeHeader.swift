import Foundation

// Hand-written on purpose: Content-Type and Content-Disposition are split here into a type and
// its parameters, and HTTPTypes exposes no such parser. It is small, bounded by the header size
// limits of the HTTP decoder, and fuzzed (Fuzz/FuzzMultipart).

/// A header of the form `type/subtype; key=value; key="quoted value"` (Content-Type,
/// Content-Disposition), split into its lowercased first token and its parameters.
public struct MediaTypeHeader: Sendable {
    public let type: String
    private let parameters: [(key: String, value: String)]

    public init(_ header: String) {
        var fields = Self.split(header)
        type = fields.isEmpty ? "" : fields.removeFirst().trimmingWhitespace().lowercased()
        parameters = fields.compactMap { field in
            guard let equals = field.firstIndex(of: "=") else { return nil }
            let key = field[..<equals].trimmingWhitespace().lowercased()
            var value = field[field.index(after: equals)...].trimmingWhitespace()
            if value.count >= 2, value.first == "\"", value.last == "\"" {
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
            }
            return (key, value)
        }
    }

    public func parameter(_ key: String) -> String? {
        parameters.first { $0.key == key }?.value
    }

    /// Splits at semicolons outside double quotes (a filename may contain one).
    private static func split(_ header: String) -> [Substring] {
        var fields: [Substring] = []
        var start = header.startIndex
        var quoted = false
        for index in header.indices {
            switch header[index] {
            case "\"": quoted.toggle()
            case ";" where !quoted:
                fields.append(header[start..<index])
                start = header.index(after: index)
            default: break
            }
        }
        fields.append(header[start...])
        return fields
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
