import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// An element of a parsed document: what the renderer tests look at.
final class ParsedElement {
    let name: String
    let attributes: [String: String]
    private(set) var children: [ParsedElement] = []
    /// Character data directly inside the element.
    fileprivate(set) var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    /// This element and all below it, in document order.
    var all: [ParsedElement] { [self] + children.flatMap(\.all) }

    func all(_ name: String) -> [ParsedElement] { all.filter { $0.name == name } }

    /// Elements whose class list holds `className`.
    func all(class className: String) -> [ParsedElement] {
        all.filter { ($0.attributes["class"] ?? "").split(separator: " ").contains(Substring(className)) }
    }

    fileprivate func append(_ child: ParsedElement) { children.append(child) }

    /// The document's root element, or nil when `text` is not well-formed XML.
    static func parse(_ text: String) -> ParsedElement? {
        let parser = XMLParser(data: Data(text.utf8))
        let builder = TreeBuilder()
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var root: ParsedElement?
    private var stack: [ParsedElement] = []

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        let element = ParsedElement(name: elementName, attributes: attributes)
        if let parent = stack.last { parent.append(element) } else { root = element }
        stack.append(element)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }
}
