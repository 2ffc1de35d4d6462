import NFLayers
import NFTensors

/// BatchNorm's training-mode statistics (per-channel mean and biased variance over N, H, W)
/// from the diagnostics' one moments accumulator: given to a forward pass so that BatchNorm
/// layers normalize with the batch's own statistics, as at initialization.
public struct MomentsBatchStatistics: BatchStatistics {
    public init() {}

    public func channelStatistics(of activation: Tensor) -> (mean: [Double], variance: [Double]) {
        var moments = ChannelMoments(channels: activation.nchw.c)
        moments.add(activation)
        return (moments.mean, moments.variance)
    }
}
