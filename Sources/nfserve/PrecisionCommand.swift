import ArgumentParser
import Foundation
import NFDatasets
import NFDiagnostics
import NFModels
import NFPipeline
import NFServer

/// `nfserve precision`: what int8 or bf16 costs a model, block by block; prints the JSON
/// `/diagnostics/precision` answers and, with `--svg`, writes the same chart.
struct PrecisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precision",
        abstract: "What int8 or bf16 costs a model against FP32, block by block; prints the same JSON as /diagnostics/precision.",
        discussion: """
            Example:
              nfserve precision --model fmnist-nf-resnet --input dataset:fashion-mnist-test --batch 16 --svg precision.svg
            """)

    @Option(help: "A checkpoint folder (calibrated by `nfserve calibrate`) or a model name inside --checkpoints.") var model: String
    @Option(help: "The precision compared with FP32: int8 or bf16.") var precision = "int8"
    @Option(help: "gaussian, or dataset:NAME (a name inside --datasets, or a folder).") var input = "gaussian"
    @Option(help: "Images or noise samples (default 8).") var batch: Int?
    @Option(help: "Square input side for gaussian input (default the model's input size).") var size: Int?
    @Option(help: "Seed of the gaussian input.") var seed: UInt64?
    @Option(help: "Write the chart to this SVG file.") var svg: String?
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets.") var datasets = "./datasets"

    func run() async throws {
        guard let chosen = try Precision(option: precision), chosen != .fp32 else {
            throw ValidationError("--precision must be int8 or bf16 (compared with fp32)")
        }
        guard let folder = try ModelResolution.folder(model, checkpoints: checkpoints) else {
            throw ValidationError("no checkpoint folder \"\(model)\" (looked in the working directory and \(checkpoints))")
        }
        let request = try SignalPropagationInput(query: input, batch: batch, size: size, seed: seed)
        let catalog = DatasetCatalog(root: datasets)
        let report = try PrecisionCost.measure(
            try ModelPipeline.load(directory: folder, precision: .fp32), precision: chosen, input: request,
            openDataset: { try catalog.open($0) })
        if let svg { try Data(PrecisionCostChart.svg(report).utf8).write(to: URL(fileURLWithPath: svg)) }
        print(String(decoding: try JSONEncoder.api.encode(report), as: UTF8.self))
    }
}
