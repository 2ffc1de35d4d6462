import ArgumentParser
import Foundation
import NFDatasets
import NFModels
import NFPipeline

/// `nfserve eval`: top-1 / top-5 accuracy of a model over a dataset, with the model's own
/// preprocessing; prints one line of JSON {"model", "dataset", "images", "top1", "top5"}.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Top-1/top-5 accuracy of a model over a labelled dataset; prints JSON.")

    @Option(help: "A checkpoint folder or a model name inside --checkpoints.") var model: String
    @Option(help: "A dataset name (inside --datasets, or fashion-mnist-test / fashion-mnist-train) or folder.") var dataset: String
    @Option(help: "Evaluate only the first N images.") var limit: Int?
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets.") var datasets = "./datasets"
    @Option(help: "Images per forward pass.") var batch = 64
    @Option(help: "Write each image's top-1 class index, one per line, to this file.") var dumpPredictions: String?
    @Option(help: "The arithmetic: fp32, or int8 (after `nfserve calibrate`); default: the folder's nfserve.json, else fp32.")
    var precision: String?

    func run() async throws {
        guard batch > 0, (limit ?? 1) > 0 else { throw ValidationError("--batch and --limit must be positive") }
        guard let dir = try ModelResolution.folder(model, checkpoints: checkpoints) else {
            throw ValidationError("no checkpoint folder \"\(model)\" (looked in the working directory and \(checkpoints))")
        }
        let loaded = try ModelPipeline.load(directory: dir, precision: try Precision(option: precision))
        let data = try DatasetCatalog(root: datasets).open(dataset)
        let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
        FileHandle.standardError.write(Data("\(loaded.name): \(loaded.precision.rawValue)\n".utf8))
        var predicted: [Int] = []
        let result = try Evaluation.run(
            model: loaded, dataset: data, limit: limit, batchSize: batch,
            progress: bar.update, predictions: dumpPredictions == nil ? nil : { predicted.append($0) })
        bar.finish()
        if let path = dumpPredictions {
            try Data(predicted.map(String.init).joined(separator: "\n").appending("\n").utf8).write(to: URL(fileURLWithPath: path))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}

/// A one-line progress bar on standard error, drawn only on a terminal.
final class ProgressBar {
    let enabled: Bool
    private var last = -1
    init(enabled: Bool) { self.enabled = enabled }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let percent = done * 100 / total
        if percent == last { return }
        last = percent
        let width = 30, filled = done * width / total
        let line = "\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total)"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled && last >= 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
