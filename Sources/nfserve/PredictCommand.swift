import ArgumentParser
import NFModels
import NFServer

/// `nfserve predict`: classifies image files and prints the JSON `POST /predictions/{model}` answers.
struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images; prints the same JSON as POST /predictions/{model}.")

    @Option(help: "A checkpoint folder, or a model name inside --checkpoints.") var model: String
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Classes per image (clamped to 1...num_classes).") var topk = 5
    @Option(help: "Largest image, in pixels, checked from its header before decoding.") var maxPixels = 40_000_000
    @Option(help: "The arithmetic: fp32, or int8 (after `nfserve calibrate`); default: the folder's nfserve.json, else fp32.")
    var precision: String?
    @Argument(help: "PNG or JPEG files.") var images: [String]

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image file") }
    }

    func run() async throws {
        guard let folder = try ModelResolution.folder(model, checkpoints: checkpoints) else {
            throw ValidationErrorMessage("no checkpoint folder \"\(model)\" (looked in the working directory and \(checkpoints))")
        }
        print(
            try predictionResponseJSON(
                modelDirectory: folder, imageFiles: images, topK: topk, maxPixels: maxPixels, precision: try Precision(option: precision)))
    }
}
