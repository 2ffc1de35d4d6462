import Foundation
import NFCheckpoint
import NFDatasets
import NFImage
import NFModels
import NFRequestFormats
import NFTensors

/// A loaded checkpoint with what serving it needs, computed once at load: the preprocessing its
/// `pretrained_cfg` asks for and the FLOPs of one image at its input size.
struct ServedModel: Sendable {
    let loaded: LoadedModel
    let preprocessing: Preprocessing
    let flops: Int
    /// The smallest height and width the network takes (FP32 inputs below it are a 400).
    let minimumInputSize: Int

    var name: String { loaded.name }
    var classifier: any ImageClassifier { loaded.classifier }
    var labels: [String] { loaded.labels }
    var numClasses: Int { loaded.numClasses }
    /// `[C, H, W]` the network is fed, from `pretrained_cfg.input_size`.
    var inputSize: [Int] { loaded.config.pretrainedCfg.inputSize }

    /// Loads the checkpoint folder at `directory` (blocking: run it on the compute pool).
    static func load(directory: String) throws -> ServedModel {
        let loaded = try CheckpointFolder.load(directory)
        let cfg = loaded.config.pretrainedCfg
        let preprocessing = try Preprocessing(cfg)
        let flops = try loaded.classifier.flops(height: cfg.inputSize[1], width: cfg.inputSize[2])
        let minimum = smallestInputSize(loaded.classifier, upTo: min(cfg.inputSize[1], cfg.inputSize[2]))
        return ServedModel(loaded: loaded, preprocessing: preprocessing, flops: flops, minimumInputSize: minimum)
    }

    /// What an FP32 `infer` input must look like: the model's channels, any H and W from
    /// `minimumInputSize` to `CheckpointFolder.maxInputSide`, at most `maxBatch` images.
    func inputRequirements(maxBatch: Int) -> InputRequirements {
        InputRequirements(channels: inputSize[0], minimumSize: minimumInputSize, maximumSize: CheckpointFolder.maxInputSide, maxBatch: maxBatch)
    }

    /// The smallest square side a forward pass accepts (every convolution and pooling window
    /// fits), found by bisection between 1 and the configured input size, which works.
    private static func smallestInputSize(_ classifier: any ImageClassifier, upTo configured: Int) -> Int {
        func works(_ side: Int) -> Bool { (try? classifier.flops(height: side, width: side)) != nil }
        var (low, high) = (1, max(configured, 1))
        while low < high {
            let middle = (low + high) / 2
            if works(middle) { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Decodes the encoded images, preprocesses them as timm's eval transform does and runs them
    /// as one batch: `[N, numClasses]` logits. Blocking: run it on the compute pool.
    ///
    /// Each image is shrunk to the input size before the next is decoded, so a request with many
    /// large images holds one full-size image at a time.
    func logits(encodedImages: [UploadedImage], maxPixels: Int) throws -> Tensor {
        var batch: [Float] = []
        for (index, upload) in encodedImages.enumerated() {
            let image: Image8
            do {
                image = try ImageDecoder.decode(upload.bytes, maxPixels: maxPixels)
            } catch let error as ImageError where encodedImages.count > 1 {
                throw APIError(mapping: error).prefixed("\(upload.filename ?? "image \(index)"): ")
            }
            batch += preprocessing(image).storage
        }
        let size = [preprocessing.channels, preprocessing.height, preprocessing.width]
        return try logits(input: Tensor(shape: [encodedImages.count] + size, storage: batch))
    }

    /// `[N, C, H, W]` preprocessed input to `[N, numClasses]` logits. Blocking.
    func logits(input: Tensor) throws -> Tensor {
        try classifier(input)
    }
}

extension APIError {
    func prefixed(_ prefix: String) -> APIError {
        APIError(status, prefix + message, headers: headers)
    }
}
