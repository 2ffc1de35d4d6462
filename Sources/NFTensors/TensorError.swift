/// A failure inside a kernel that the caller can act on (a bad input shape, a oneDNN refusal).
public struct TensorError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
