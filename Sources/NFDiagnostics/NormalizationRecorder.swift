import NFLayers
import NFTensors
import Synchronization

/// Accumulates, per normalization layer, the per-channel moments of its input over every
/// forward pass it listens to (`.normalizationInput` sites), remembering the order the layers
/// were reached in. What the estimation shift compares running statistics with.
public final class NormalizationRecorder: ForwardObserver {
    private struct State {
        var order: [String] = []
        var moments: [String: ChannelMoments] = [:]
    }

    private let state = Mutex(State())
    /// The layers to record; nil for all.
    private let only: Set<String>?

    public init(only: Set<String>? = nil) {
        self.only = only
    }

    public func observe(_ site: ObservationSite, _ activation: Tensor) {
        guard case let .normalizationInput(name) = site, only?.contains(name) ?? true else { return }
        state.withLock { state in
            var moments = state.moments[name] ?? {
                state.order.append(name)
                return ChannelMoments(channels: activation.nchw.c)
            }()
            moments.add(activation)
            state.moments[name] = moments
        }
    }

    /// Each layer's input moments so far, by layer name.
    public var moments: [String: ChannelMoments] { state.withLock { $0.moments } }

    /// The layers in the order the forward passes reached them.
    public var order: [String] { state.withLock { $0.order } }
}
