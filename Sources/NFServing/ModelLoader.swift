import Dispatch
import NFModels
import NFPipeline

/// Loads checkpoint folders off the event loops, one at a time, on a queue of their own: at
/// start and for the admin's reloads, so that a load neither waits behind the inference queue
/// nor counts against its bound.
public final class ModelLoader: Sendable {
    private let queue = DispatchQueue(label: "nfserve.loading", qos: .utility)
    /// The precisions the server's flags ask for (they override each folder's nfserve.json).
    public let precisions: ModelPrecisions

    public init(precisions: ModelPrecisions = ModelPrecisions()) { self.precisions = precisions }

    /// The checkpoint folder `directory`, served as `name`.
    public func load(_ directory: String, name: String) async throws -> ModelPipeline {
        let precision = precisions.precision(for: name)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try ModelPipeline.load(directory: directory, name: name, precision: precision) })
            }
        }
    }
}

/// `--precision int8` (every model) and `--precision NAME=int8` (one; it wins).
public struct ModelPrecisions: Sendable, Equatable {
    public var all: Precision?
    public var perModel: [String: Precision]

    public init(all: Precision? = nil, perModel: [String: Precision] = [:]) {
        self.all = all
        self.perModel = perModel
    }

    /// What the flags ask for `name` (nil: its nfserve.json, else FP32).
    public func precision(for name: String) -> Precision? { perModel[name] ?? all }
}
