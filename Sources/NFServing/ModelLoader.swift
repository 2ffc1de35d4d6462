import Dispatch
import NFPipeline

/// Loads checkpoint folders off the event loops, one at a time, on a queue of their own: at
/// start and for the admin's reloads, so that a load neither waits behind the inference queue
/// nor counts against its bound.
public final class ModelLoader: Sendable {
    private let queue = DispatchQueue(label: "nfserve.loading", qos: .utility)

    public init() {}

    /// The checkpoint folder `directory`, served as `name`.
    public func load(_ directory: String, name: String) async throws -> ModelPipeline {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try ModelPipeline.load(directory: directory, name: name) }) }
        }
    }
}
