import NFLayers
import NFTensors
import Synchronization

/// Accumulates, per normalization layer, the per-channel moments of its input over every
/// forward pass it listens to (`.normalizationInput` sites), remembering the order the layers
/// were reached in. What the estimation shift compares running statistics with.
///
/// With `deferringUpTo` bytes, the forward pass only keeps the inputs it is shown (a reference,
/// copied when the layer then normalizes in place) and their moments are computed when
/// `moments` is first read, so that a served prediction answers before the sums are made (its
/// live estimation shift merges later, off the response path); inputs beyond the budget are
/// reduced at once. An execution plan's inputs (`observe(_:blocked:)`) are always reduced at
/// once, where they lie: one read of each on every core, cheaper than a copy to keep.
public final class NormalizationRecorder: ForwardObserver {
    private struct State {
        var order: [String] = []
        var moments: [String: ChannelMoments] = [:]
        var pending: [(name: String, activation: Tensor)] = []
        var pendingBytes = 0
    }

    private let state = Mutex(State())
    /// The layers to record; nil for all.
    private let only: Set<String>?
    private let deferredBytes: Int

    public init(only: Set<String>? = nil, deferringUpTo deferredBytes: Int = 0) {
        self.only = only
        self.deferredBytes = deferredBytes
    }

    public var observedSites: ObservedSites { .normalizationInputs }

    public func observe(_ site: ObservationSite, _ activation: Tensor) {
        guard case let .normalizationInput(name) = site, only?.contains(name) ?? true else { return }
        state.withLock { state in
            if state.moments[name] == nil && !state.order.contains(name) { state.order.append(name) }
            let bytes = activation.count * MemoryLayout<Float>.size
            if state.pendingBytes + bytes <= deferredBytes {
                state.pending.append((name, activation))
                state.pendingBytes += bytes
            } else {
                Self.accumulate(&state.moments, name, activation)
            }
        }
    }

    /// A plan's blocked activation is reduced at once, where it lies (never deferred: the plan
    /// reuses its buffer, and the reduction is one read of it on every core).
    public func observe(_ site: ObservationSite, blocked activation: BlockedTensor) {
        guard case let .normalizationInput(name) = site, only?.contains(name) ?? true else { return }
        state.withLock { state in
            if state.moments[name] == nil && !state.order.contains(name) { state.order.append(name) }
            var layer = state.moments.removeValue(forKey: name) ?? ChannelMoments(channels: activation.c)
            layer.add(activation)
            state.moments[name] = layer
        }
    }

    private static func accumulate(_ moments: inout [String: ChannelMoments], _ name: String, _ activation: Tensor) {
        var layer = moments.removeValue(forKey: name) ?? ChannelMoments(channels: activation.nchw.c)
        layer.add(activation)
        moments[name] = layer
    }

    /// Each layer's input moments so far, by layer name (deferred inputs reduced first).
    public var moments: [String: ChannelMoments] {
        state.withLock { state in
            for (name, activation) in state.pending { Self.accumulate(&state.moments, name, activation) }
            state.pending = []
            state.pendingBytes = 0
            return state.moments
        }
    }

    /// The layers in the order the forward passes reached them.
    public var order: [String] { state.withLock { $0.order } }
}
