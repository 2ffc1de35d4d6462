import NFTensors

/// Hands tensors to the layers being built and remembers which keys were used, so that loading
/// can insist that no key is missing, none is left over and every shape matches.
///
/// A key is written once, where the layer that owns it is built:
/// `loader.root.scoped("layer1").scoped("0").scoped("conv1").tensor("weight", shape: ...)`.
public final class WeightLoader {
    public let source: any WeightSource
    private var used: Set<String> = []

    public init(source: any WeightSource) { self.source = source }

    public var root: WeightScope { WeightScope(loader: self, prefix: "") }

    fileprivate func take(_ key: String, shape: [Int], required: Bool) throws -> Tensor? {
        let found: Tensor?
        do {
            found = try source.tensor(key, expectedShape: shape)
        } catch let error as WeightLoadingError {
            throw error
        } catch {
            throw WeightLoadingError.unreadable(key: key, reason: "\(error)")
        }
        guard let found else {
            if required { throw WeightLoadingError.missingKey(key: key, expectedShape: shape) }
            return nil
        }
        used.insert(key)
        return found
    }

    fileprivate func markUsed(_ key: String) {
        if source.keys.contains(key) { used.insert(key) }
    }

    /// Throws `WeightLoadingError.unusedKeys` if the source holds keys no layer asked for.
    public func finish() throws {
        let unused = source.keys.filter { !used.contains($0) }.sorted()
        if !unused.isEmpty { throw WeightLoadingError.unusedKeys(unused) }
    }
}

/// A position in the key hierarchy ("layer1.0.conv1").
public struct WeightScope {
    let loader: WeightLoader
    public let prefix: String

    public func scoped(_ component: String) -> WeightScope {
        WeightScope(loader: loader, prefix: key(component))
    }

    public func scoped(_ index: Int) -> WeightScope { scoped(String(index)) }

    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// The tensor `prefix.name`, which must exist with exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try loader.take(key(name), shape: shape, required: true)!
    }

    /// The tensor `prefix.name` if the checkpoint has it.
    public func optionalTensor(_ name: String, shape: [Int]) throws -> Tensor? {
        try loader.take(key(name), shape: shape, required: false)
    }

    /// Marks `prefix.name` as known but not needed at inference (BatchNorm's num_batches_tracked).
    public func ignore(_ name: String) { loader.markUsed(key(name)) }
}
