import Foundation
import NFCheckpoint
import NFTensors

/// Where a model's tensors come from: a checkpoint file, or an initializer for a design that
/// has no weights yet (benchmarks, signal propagation at initialization).
public protocol WeightSource: AnyObject {
    /// The tensor stored under `key`, or nil when there is none. `expectedShape` is what the
    /// layer asking for it needs; a source that stores shapes must report a mismatch.
    func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor?
    /// Every key the source holds (empty for generated weights): keys never asked for are
    /// reported as unused.
    var keys: [String] { get }
}

/// A safetensors checkpoint as a weight source (F32, F16 and BF16 converted to float32).
public final class SafeTensorsWeightSource: WeightSource {
    public let file: SafeTensorsFile
    public init(file: SafeTensorsFile) { self.file = file }

    public var keys: [String] { file.names }

    public func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor? {
        guard let info = file.info(key) else { return nil }
        guard info.shape == expectedShape else {
            throw WeightLoadingError.shapeMismatch(key: key, expected: expectedShape, found: info.shape)
        }
        return Tensor(shape: info.shape, storage: try file.floats(key))
    }
}

/// Generated weights for an architecture without a checkpoint, chosen by the key's last
/// component the way PyTorch/timm initialize such parameters: conv and linear weights
/// He-normal (std sqrt(2 / fan_in)), norm scales 1, biases and running means 0, running
/// variances 1. The gains timm initializes to 0 so that every residual branch starts silent
/// (`conv3.gain`, `skipinit_gain`, and with zero_init_last the last BatchNorm's scale) are 1
/// here, so that a signal propagation plot at initialization sees the branches. Seeded: two
/// runs build the same network (weight tensor k from stream k of `RandomNormal`).
public final class InitializerWeightSource: WeightSource {
    private let seed: UInt64
    private var stream: UInt64 = 0
    public init(seed: UInt64 = 0) { self.seed = seed }

    public var keys: [String] { [] }

    public func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor? {
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        switch leaf {
        case "weight" where expectedShape.count >= 2:
            let fanIn = expectedShape.dropFirst().reduce(1, *)
            stream += 1
            return RandomNormal.tensor(shape: expectedShape, std: (2.0 / Double(fanIn)).squareRoot(), seed: seed, stream: stream)
        case "weight", "running_var", "gain", "skipinit_gain":
            return Tensor(shape: expectedShape, repeating: 1)
        default:
            return Tensor(shape: expectedShape, repeating: 0)
        }
    }
}

/// Passes an inner source through and keeps every tensor it hands out, so that the full set of
/// keys and shapes an architecture asks for is known afterwards (to write a checkpoint of a
/// design, or to break one on purpose in tests).
public final class RecordingWeightSource: WeightSource {
    public let inner: any WeightSource
    public private(set) var recorded: [String: Tensor] = [:]

    public init(_ inner: any WeightSource) { self.inner = inner }

    public var keys: [String] { inner.keys }

    public func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor? {
        let tensor = try inner.tensor(key, expectedShape: expectedShape)
        recorded[key] = tensor
        return tensor
    }
}
