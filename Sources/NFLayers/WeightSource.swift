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
/// He-normal (std sqrt(2 / fan_in)), norm scales and `gain`s 1, biases and running means 0,
/// running variances 1. Seeded, so two runs build the same network.
public final class InitializerWeightSource: WeightSource {
    private var generator: SplitMix64
    public init(seed: UInt64 = 0) { generator = SplitMix64(seed: seed) }

    public var keys: [String] { [] }

    public func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor? {
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        let count = expectedShape.reduce(1, *)
        switch leaf {
        case "weight" where expectedShape.count >= 2:
            let fanIn = expectedShape.dropFirst().reduce(1, *)
            let std = (2.0 / Double(fanIn)).squareRoot()
            return Tensor(shape: expectedShape, storage: (0..<count).map { _ in Float(generator.nextNormal() * std) })
        case "weight", "running_var", "gain":
            return Tensor(shape: expectedShape, repeating: 1)
        default:
            return Tensor(shape: expectedShape, repeating: 0)
        }
    }
}

/// A small, fast, seeded generator (Steele, Lea & Flood 2014), with Box-Muller normals.
public struct SplitMix64: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    public mutating func nextUniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992.0 }

    public mutating func nextNormal() -> Double {
        let u1 = nextUniform(), u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
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
