import ArgumentParser
import Foundation
import NFDatasets
import NFDiagnostics
import NFPipeline
import NFServer

/// `nfserve esm`: BatchNorm's estimation shift of a model on a dataset (or of several models on
/// several datasets, overlaid in the picture); prints the JSON `GET /diagnostics/esm` answers
/// and, with `--svg`, the picture.
struct EsmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "esm",
        abstract: "BatchNorm estimation shift on a dataset; prints the same JSON as /diagnostics/esm, --svg writes the picture.",
        discussion: """
            Examples:
              nfserve esm --model fmnist-resnet-bn --dataset fashion-mnist-test
              nfserve esm --model fmnist-resnet-bn --model fmnist-resnet-xbn --dataset fashion-mnist-test --svg esm.svg
              nfserve esm --model fmnist-resnet-bn --dataset fashion-mnist-test --dataset fmnist-noise-64 --svg shift.svg
            """)

    @Option(help: "A checkpoint folder or a model name inside --checkpoints (repeat to overlay several).") var model: [String]
    @Option(help: "A dataset name inside --datasets (or fashion-mnist-test/-train from Debian), or a folder (repeat for several).")
    var dataset: [String]
    @Option(help: "Measure only the first N images.") var limit: Int?
    @Option(help: "Write the per-layer picture to this SVG file.") var svg: String?
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets.") var datasets = "./datasets"
    @Option(help: "Images per forward pass.") var batch = 64

    func run() async throws {
        guard !model.isEmpty, !dataset.isEmpty else { throw ValidationError("give --model and --dataset") }
        guard batch > 0, (limit ?? 1) > 0 else { throw ValidationError("--batch and --limit must be positive") }
        let catalog = DatasetCatalog(root: datasets)
        var reports: [EstimationShiftReport] = []
        for name in model {
            guard let folder = try ModelResolution.folder(name, checkpoints: checkpoints) else {
                throw ValidationError("no checkpoint folder \"\(name)\" (looked in the working directory and \(checkpoints))")
            }
            let pipeline = try ModelPipeline.load(directory: folder)
            for datasetName in dataset {
                let data = try catalog.open(datasetName)
                let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
                let (recorder, images) = try EstimationShift.measure(
                    pipeline, batches: EstimationShift.batches(pipeline, dataset: data, limit: limit, batchSize: batch), afterBatch: bar.update)
                bar.finish()
                reports.append(
                    EstimationShiftReport(
                        model: pipeline.name, source: "dataset", dataset: data.name, images: images,
                        statistics: "checkpoint",
                        layers: EstimationShift.layers(pipeline.classifier, measured: recorder.moments)))
            }
        }
        if let svg {
            try Data(EstimationShiftChart.svg(reports).utf8).write(to: URL(fileURLWithPath: svg))
        }
        let json = reports.count == 1 ? try JSONEncoder.api.encode(reports[0]) : try JSONEncoder.api.encode(["runs": reports])
        print(String(decoding: json, as: UTF8.self))
    }
}
