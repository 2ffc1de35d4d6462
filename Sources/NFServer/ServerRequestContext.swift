import Foundation
import Hummingbird

/// Hummingbird's basic context with nfserve's JSON encoder.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    public var responseEncoder: JSONEncoder { .api }
}

extension JSONEncoder {
    /// Compact JSON with keys sorted (Linux Foundation does not keep their declaration order,
    /// and responses should not change from run to run) and without `\/` escapes, so that
    /// paths in messages read as typed.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
