import Foundation
import Testing

@testable import NFCheckpoint

@Suite struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8), rejectDuplicateKeys: false)
    }

    @Test func parsesEveryKind() throws {
        let value = try parse(#" {"a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {}} "#)
        #expect(
            value
                == .object([
                    "a": .array([.number(1), .number(-25), .bool(true), .bool(false), .null]),
                    "s": .string("x\"\\/\n\u{e9}\u{1F600}"),
                    "o": .object([:]),
                ]))
    }

    @Test func accessors() throws {
        let value = try parse(#"{"n": 3, "f": 0.5, "ints": [1, 2], "mixed": [1, 2.5], "s": "t", "b": true}"#)
        #expect(value["n"]?.intValue == 3)
        #expect(value["f"]?.intValue == nil)
        #expect(value["f"]?.doubleValue == 0.5)
        #expect(value["ints"]?.intArray == [1, 2])
        #expect(value["mixed"]?.intArray == nil)
        #expect(value["mixed"]?.doubleArray == [1, 2.5])
        #expect(value["s"]?.stringValue == "t")
        #expect(value["b"]?.boolValue == true)
        #expect(value["b"]?.intValue == nil)
        #expect(value["missing"] == nil)
        #expect(value.objectValue?.count == 6)
        #expect(value["ints"]?.arrayValue?.count == 2)
    }

    @Test func rejectsMalformedDocuments() {
        for text in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"", "1e999", "{} {}"] {
            #expect(throws: JSONParseError.self, "\(text.debugDescription)") { try parse(text) }
        }
    }

    @Test func boundsNestingDepth() {
        let deep = String(repeating: "[", count: 100_000)
        let error = #expect(throws: JSONParseError.self) { try parse(deep) }
        #expect(error?.message.contains("nesting deeper than 512") == true)
    }

    @Test func duplicateKeysOnlyWhenAsked() throws {
        let text = #"{"a": 1, "a": 2}"#
        #expect(try parse(text) == .object(["a": .number(2)]))
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8), rejectDuplicateKeys: true) }
        #expect(error?.duplicateKey?.key == "a")
    }

    @Test func descriptionIsCompactSortedJSON() throws {
        let value = try parse(#"{"b": [1, 0.875, "q\"\n"], "a": null}"#)
        #expect(value.description == #"{"a":null,"b":[1,0.875,"q\"\n"]}"#)
        #expect(try parse(value.description) == value)
    }

    @Test func codableRoundTrip() throws {
        let value = try parse(ModelConfigTests.resnet50)
        let encoded = try JSONEncoder().encode(value)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: encoded)
        #expect(decoded == value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data("[true, 1]".utf8)) == .array([.bool(true), .number(1)]))
        #expect(String(decoding: try JSONEncoder().encode(JSONValue.number(3)), as: UTF8.self) == "3")
    }
}
