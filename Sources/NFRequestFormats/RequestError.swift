/// A request a client got wrong, found while decoding or validating its bytes: the HTTP status
/// it deserves and a message that says what to send instead. `NFServer` answers it as docs/api.md's
/// JSON error; nothing here knows about HTTP beyond the status number.
public struct RequestError: Error, CustomStringConvertible, Sendable, Equatable {
    /// 400, 413 or 422.
    public var status: Int
    public var message: String

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(message)" }

    public static func badRequest(_ message: String) -> RequestError { RequestError(status: 400, message) }
    public static func tooLarge(_ message: String) -> RequestError { RequestError(status: 413, message) }
}

/// The product of `dimensions`, or nil when it overflows `Int` or a dimension is negative: shapes
/// come from clients, and `reduce(1, *)` traps on overflow.
public func checkedElementCount(_ dimensions: [Int]) -> Int? {
    var count = 1
    for dimension in dimensions {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        guard !overflow else { return nil }
        count = product
    }
    return count
}
