import Foundation
import Hummingbird
import NIOCore

/// Hummingbird's basic context with nfserve's JSON encoder and the connection's channel.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (a long diagnostics pass stops when its client has gone).
    public let channel: any Channel

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    public var responseEncoder: JSONEncoder { .api }
}

extension JSONEncoder {
    /// Compact JSON with keys sorted (Linux Foundation does not keep their declaration order,
    /// and responses should not change from run to run) and without `\/` escapes, so that
    /// paths in messages read as typed. The one JSON encoding of every response, and of the
    /// command line's output.
    public static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // JSON has no NaN or infinity; should one reach a response, it is spelled out as a string
        // instead of failing the encoding (OIP FP32 inputs are checked so that none does).
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }
}
