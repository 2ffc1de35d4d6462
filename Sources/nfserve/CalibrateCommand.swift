import ArgumentParser
import Foundation
import NFDatasets
import NFDiagnostics
import NFLayers
import NFModels
import NFPipeline
import NFTensors

/// `nfserve calibrate`: records the range of every convolution's input over a dataset and writes
/// them into the checkpoint folder (`calibration.json`), which int8 serving needs.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Calibrate a model for int8: write the ranges of its convolutions' inputs into its folder (calibration.json).")

    @Option(help: "A checkpoint folder or a model name inside --checkpoints.") var model: String
    @Option(
        help:
            "A dataset name (inside --datasets, or fashion-mnist-test / fashion-mnist-train) or folder; or 'gaussian': N(0, 1) noise at the model's input size, only for timing models with random weights."
    )
    var dataset: String
    @Option(help: "Calibrate on the first N images.") var limit = 512
    @Option(
        help:
            "How ranges are chosen: minmax (smallest and largest value), percentile (99.99th percentile of |x|) or entropy (the clipping with the least KL divergence)."
    )
    var method = "minmax"
    @Option(help: "The seed of the gaussian noise.") var seed: UInt64 = 0
    @Option(help: "Images per forward pass.") var batch = 32
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets.") var datasets = "./datasets"

    func run() async throws {
        guard limit > 0, batch > 0 else { throw ValidationError("--limit and --batch must be positive") }
        guard let method = CalibrationMethod(rawValue: method) else {
            throw ValidationError(
                "--method must be one of \(CalibrationMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let dir = try ModelResolution.folder(model, checkpoints: checkpoints) else {
            throw ValidationError("no checkpoint folder \"\(model)\" (looked in the working directory and \(checkpoints))")
        }
        let pipeline = try ModelPipeline.load(directory: dir, precision: .fp32)
        let calibration: Calibration
        if dataset == "gaussian" {
            let shape = pipeline.inputSize
            calibration = try pipeline.calibrate(method: method, dataset: dataset, images: limit, seed: seed) { each in
                var rng = SplitMix64(seed: seed)
                var done = 0
                while done < limit {
                    let n = min(batch, limit - done)
                    let count = n * shape.reduce(1, *)
                    try each(Tensor(shape: [n] + shape, storage: (0..<count).map { _ in Float(rng.nextNormal()) }))
                    done += n
                }
            }
        } else {
            let data = try DatasetCatalog(root: datasets).open(dataset)
            let total = min(limit, data.count)
            calibration = try pipeline.calibrate(method: method, dataset: data.name, images: total) { each in
                var done = 0
                while done < total {
                    let end = min(done + batch, total)
                    try each(pipeline.input(images: try (done..<end).map { try data.item($0, maxPixels: 40_000_000).0 }))
                    done = end
                }
            }
        }
        try calibration.write(folder: dir)
        let summary: [String: Any] = [
            "model": pipeline.name, "dataset": calibration.dataset, "images": calibration.images, "method": calibration.method,
            "inputs": calibration.inputs.count, "file": dir + "/" + Calibration.fileName,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
    }
}
