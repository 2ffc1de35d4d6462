import NFLayers
import NFTensors

/// What building and running a registered architecture costs, known before any weight is
/// drawn: parameters, and per image at 32 x 32 px the FLOPs of a forward pass and the elements
/// of its largest convolution output (both scale with the input's area). A diagnostics request
/// at initialization is checked against these before it builds anything.
///
/// `ArchitectureCost.table` holds the values `measure(architecture:)` gives (built with
/// timm's default `model_args`); `nfserve architectures --costs` prints them anew and
/// `ArchitectureCostTests` checks the table against builds.
public struct ArchitectureCost: Sendable, Equatable, Codable {
    public var parameters: Int
    public var flopsPerImageAt32: Int
    public var largestActivationPerImageAt32: Int

    public init(parameters: Int, flopsPerImageAt32: Int, largestActivationPerImageAt32: Int) {
        self.parameters = parameters
        self.flopsPerImageAt32 = flopsPerImageAt32
        self.largestActivationPerImageAt32 = largestActivationPerImageAt32
    }

    /// The table's entry for a registered architecture.
    public static func of(_ architecture: String) -> ArchitectureCost? { table[architecture] }

    /// Builds `architecture` with zero weights (no random draws) and runs one image at 32 px.
    public static func measure(architecture: String) throws -> ArchitectureCost {
        let classifier = try ModelRegistry.build(
            architecture: architecture, numClasses: nil, modelArgs: [:],
            weights: WeightLoader(source: ZeroWeightSource()))
        let context = ForwardContext()
        _ = try classifier.forward(Tensor(shape: [1, classifier.inputChannels, 32, 32]), context: context)
        return ArchitectureCost(
            parameters: classifier.parameterCount, flopsPerImageAt32: context.flops,
            largestActivationPerImageAt32: context.largestActivation)
    }

    /// FLOPs of a forward pass of `batch` images of `size` x `size` px (scaled by the area).
    public func flops(batch: Int, size: Int) -> Double {
        Double(flopsPerImageAt32) * Double(batch) * Double(size * size) / 1024
    }

    /// Bytes a network at initialization holds at most while built and run on `batch` images of
    /// `size` px: its weights three times (the drawn tensor, a standardized copy, oneDNN's
    /// reordered one: measured 2.4 times for dm_nfnet_f6's build) and four of its largest
    /// activations (a block's input, branch, shortcut and output).
    public func bytesAtInitialization(batch: Int, size: Int) -> Int {
        let activations = Double(largestActivationPerImageAt32) * Double(batch) * Double(size * size) / 1024
        return parameters * 4 * 3 + Int(activations * 4 * 4)
    }
}

/// Zeros of every requested shape: builds an architecture to count it, with no random draws.
final class ZeroWeightSource: WeightSource {
    var keys: [String] { [] }
    func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor? {
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        // A variance of 1 keeps BatchNorm's folding finite.
        return Tensor(shape: expectedShape, repeating: leaf == "running_var" ? 1 : 0)
    }
}
