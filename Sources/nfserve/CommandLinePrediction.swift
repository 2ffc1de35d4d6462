import Foundation
import NFImage
import NFModels
import NFPipeline
import NFServer

/// `nfserve predict`: the JSON that `POST /predictions/{model}` answers, for image files and
/// without a server (one image: the single form; several: one result per file, in order).
func predictionResponseJSON(
    modelDirectory: String, imageFiles: [String], topK: Int?,
    maxPixels: Int = ServerConfiguration().maxPixels, precision: Precision? = nil
) throws -> String {
    let model = try ModelPipeline.load(directory: modelDirectory, precision: precision)
    let images = try imageFiles.map { path in
        UploadedImage(
            filename: URL(fileURLWithPath: path).lastPathComponent,
            bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }
    let logits = try model.logits(encodedImages: images, maxPixels: maxPixels)
    let response = PredictionResponse(
        model: model.name, images: images,
        predictions: model.topPredictions(logits: logits, k: model.topK(topK)))
    return String(decoding: try JSONEncoder.api.encode(response), as: UTF8.self)
}
