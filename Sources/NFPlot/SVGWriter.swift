/// An SVG document under construction, one element per line: names are written as given,
/// attribute values and text are escaped, attributes whose value is nil are left out.
struct SVGWriter {
    private(set) var output = ""

    /// Opens an element that children follow: `<name a="v">`.
    mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:]) {
        output += "<" + name + Self.attributeText(attributes) + ">\n"
    }

    mutating func close(_ name: String) {
        output += "</" + name + ">\n"
    }

    /// An element with only text inside (`<name a="v">text</name>`), or none (`<name a="v"/>`).
    mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:], text: String? = nil) {
        let start = "<" + name + Self.attributeText(attributes)
        if let text {
            output += start + ">" + SVGEscaping.escape(text) + "</" + name + ">\n"
        } else {
            output += start + "/>\n"
        }
    }

    /// Raw text written as it is: for the style sheet, which the renderer builds from constants.
    mutating func raw(_ text: String) {
        output += text
    }

    private static func attributeText(_ attributes: KeyValuePairs<String, String?>) -> String {
        attributes.compactMap { key, value in value.map { " " + key + "=\"" + SVGEscaping.escape($0) + "\"" } }.joined()
    }
}

/// A coordinate as SVG text, rounded to two decimals.
func svgNumber(_ value: Double) -> String { NumberFormatting.coordinate(value) }
