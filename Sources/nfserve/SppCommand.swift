import ArgumentParser
import Foundation
import NFDatasets
import NFDiagnostics
import NFModels
import NFPipeline
import NFServer

/// `nfserve spp`: a signal propagation plot of a model, of a registered architecture at
/// initialization or of the paper's designs; prints the JSON `/diagnostics/spp` answers and,
/// with `--svg`, writes the same picture.
struct SppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spp",
        abstract: "Signal propagation plot; prints the same JSON as /diagnostics/spp, --svg writes the picture.",
        discussion: """
            Examples:
              nfserve spp --model fmnist-nf-resnet --input dataset:fashion-mnist-test
              nfserve spp --model nf_resnet50 --at-init --size 64
              nfserve spp --architecture '[{"family": "preact_resnet", "order": "bn_relu_conv"}, {"family": "nf_resnet"}]' --svg spp.svg
            """)

    @Option(help: "A checkpoint folder or a model name inside --checkpoints; with --at-init a registered architecture.")
    var model: String?
    @Flag(help: "Measure the registered architecture --model at initialization.") var atInit = false
    @Option(help: "A design as JSON (an object, or a list to overlay), or @FILE holding it.") var architecture: String?
    @Option(help: "gaussian, or dataset:NAME (a name inside --datasets, or a folder).") var input = "gaussian"
    @Option(help: "Images or noise samples (default 8 for a model, 4 at initialization).") var batch: Int?
    @Option(help: "Square input side for gaussian input (default the model's input size, 64 at initialization).") var size: Int?
    @Option(help: "Seed of the gaussian input and of the weights at initialization.") var seed: UInt64?
    @Option(help: "Write the three-panel picture to this SVG file.") var svg: String?
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets.") var datasets = "./datasets"

    func run() async throws {
        let input = try SignalPropagationInput(query: input, batch: batch, size: size, seed: seed)
        let request: SignalPropagationRequest
        switch (model, architecture) {
        case let (name?, nil):
            request = SignalPropagationRequest(model: name, atInit: atInit, input: input)
        case let (nil, json?):
            let text = json.hasPrefix("@") ? try String(contentsOfFile: String(json.dropFirst()), encoding: .utf8) : json
            let designs: [NetworkDesign]
            if let list = try? JSONDecoder().decode([NetworkDesign].self, from: Data(text.utf8)) {
                designs = list
            } else {
                designs = [try JSONDecoder().decode(NetworkDesign.self, from: Data(text.utf8))]
            }
            request = SignalPropagationRequest(architecture: designs, input: input)
        default:
            throw ValidationError("give --model or --architecture")
        }
        let runs = try SignalPropagationRequest.runs([request])
        try runs.forEach { try $0.check() }
        let catalog = DatasetCatalog(root: datasets)
        let reports = try runs.map { run -> SignalPropagationReport in
            guard case let .servedModel(name) = run.kind else { return try run.measureAtInitialization() }
            guard let folder = try ModelResolution.folder(name, checkpoints: checkpoints) else {
                throw ValidationError(
                    "no checkpoint folder \"\(name)\" (looked in the working directory and \(checkpoints)); "
                        + "for a registered architecture at initialization add --at-init")
            }
            return try SignalPropagation.measure(
                try ModelPipeline.load(directory: folder), input: run.input,
                openDataset: { try catalog.open($0) })
        }
        if let svg {
            try Data(SignalPropagationChart.svg(reports).utf8).write(to: URL(fileURLWithPath: svg))
        }
        let json = reports.count == 1 ? try JSONEncoder.api.encode(reports[0]) : try JSONEncoder.api.encode(SignalPropagationRuns(runs: reports))
        print(String(decoding: json, as: UTF8.self))
    }
}
