import NFCheckpoint
import NFImage

extension Preprocessing {
    /// timm's eval transform for a checkpoint's `pretrained_cfg`; a single mean/std value
    /// applies to every channel.
    public init(_ cfg: PretrainedConfig) throws {
        func perChannel(_ values: [Double]) -> [Float] {
            (values.count == 1 ? Array(repeating: values[0], count: cfg.inputSize[0]) : values).map(Float.init)
        }
        try self.init(
            inputSize: cfg.inputSize, interpolation: cfg.interpolation, cropPct: cfg.cropPct,
            cropMode: cfg.cropMode, mean: perChannel(cfg.mean), std: perChannel(cfg.std))
    }
}
