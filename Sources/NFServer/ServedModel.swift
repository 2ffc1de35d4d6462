import Foundation
import NFCheckpoint
import NFDatasets
import NFImage
import NFModels
import NFTensors

/// A loaded checkpoint with what serving it needs, computed once at load: the preprocessing its
/// `pretrained_cfg` asks for and the FLOPs of one image at its input size.
struct ServedModel: Sendable {
    let loaded: LoadedModel
    let preprocessing: Preprocessing
    let flops: Int

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
        return ServedModel(loaded: loaded, preprocessing: preprocessing, flops: flops)
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

/// One encoded image of a request, with the name its multipart part gave it.
struct UploadedImage: Sendable {
    var filename: String?
    var bytes: [UInt8]
}

extension APIError {
    func prefixed(_ prefix: String) -> APIError {
        APIError(status, prefix + message, headers: headers)
    }
}
