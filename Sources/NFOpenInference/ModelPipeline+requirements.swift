import NFModels
import NFPipeline
import NFRequestFormats

extension ModelPipeline {
    /// What an FP32 `infer` input must look like: the model's channels, any H and W from
    /// `minimumInputSize` to `CheckpointFolder.maxInputSide`, at most `maxBatch` images.
    public func inputRequirements(maxBatch: Int) -> InputRequirements {
        InputRequirements(channels: inputSize[0], minimumSize: minimumInputSize, maximumSize: CheckpointFolder.maxInputSide, maxBatch: maxBatch)
    }
}
