import ArgumentParser
import Foundation
import NFDatasets
import NFDiagnostics
import NFModels
import NFPipeline
import NFServer
import NFTensors

/// `nfserve recalibrate`: AdaBN on a dataset, written as a new checkpoint folder. Recalibrating
/// one replica of a fleet (`POST /models/{m}/recalibrate`) makes the replicas disagree; a new
/// folder is rolled out like any model version, to every replica at once.
struct RecalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recalibrate",
        abstract: "AdaBN on a dataset, written as a new checkpoint folder (timm-loadable) to roll out like any model version.",
        discussion: """
            Each BatchNorm's running statistics become the mean and biased variance its input has on
            the dataset, layer by layer (each layer with the earlier ones already recalibrated). The new
            folder holds config.json and the folder's other files as they were, and model.safetensors
            with every tensor as it was except the BatchNorms' running_mean and running_var. Prints
            each layer's estimation shift on the dataset before, and after with the written folder
            loaded back.

            Example:
              nfserve recalibrate --model fmnist-resnet-bn --dataset fmnist-brightness-80 --out checkpoints/fmnist-resnet-bn-bright
            """)

    @Option(help: "A checkpoint folder, a model name inside --checkpoints, or hf:ORG/NAME[@REVISION].") var model: String
    @Option(help: "A dataset name inside --datasets (or fashion-mnist-test/-train from Debian), or a folder.") var dataset: String
    @Option(help: "The new checkpoint folder (must not exist).") var out: String
    @Option(help: "Recalibrate on the first N images only.") var limit: Int?
    @Option(help: "Folder of checkpoint folders.") var checkpoints = "./checkpoints"
    @Option(help: "Folder of datasets.") var datasets = "./datasets"
    @Option(help: "Images per forward pass.") var batch = 64

    /// The preprocessed images are held while every layer passes over them.
    static let maxInputBytes = 4 << 30

    struct Layer: Encodable {
        let name: String
        let channels: Int
        let esmMeanBefore: Double?, esmVarBefore: Double?, esmMeanAfter: Double?, esmVarAfter: Double?
        enum CodingKeys: String, CodingKey {
            case name, channels
            case esmMeanBefore = "esm_mean_before", esmVarBefore = "esm_var_before"
            case esmMeanAfter = "esm_mean_after", esmVarAfter = "esm_var_after"
        }
    }

    struct Summary: Encodable {
        let model: String, dataset: String, images: Int, out: String, statistics: String
        let layers: [Layer]
    }

    func run() async throws {
        guard batch > 0, (limit ?? 1) > 0 else { throw ValidationError("--batch and --limit must be positive") }
        guard let folder = try ModelResolution.folder(model, checkpoints: checkpoints) else {
            throw ValidationError("no checkpoint folder \"\(model)\" (looked in the working directory and \(checkpoints))")
        }
        guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("--out \(out) exists already; give a new folder") }
        let pipeline = try ModelPipeline.load(directory: folder)
        guard !pipeline.classifier.batchNormLayers.isEmpty else {
            throw ValidationError("\(pipeline.name) has no BatchNorm layer to recalibrate (\(pipeline.classifier.normalizationKind.rawValue))")
        }
        let data = try DatasetCatalog(root: datasets).open(dataset)
        let count = min(limit ?? data.count, data.count)
        guard count > 0 else { throw ValidationError("dataset \"\(data.name)\" has no images") }
        let bytes = pipeline.inputSize.reduce(MemoryLayout<Float>.stride, *) * count
        guard bytes <= Self.maxInputBytes else {
            throw ValidationError(
                "\(count) images at \(pipeline.inputSize) take \(bytes >> 20) MiB preprocessed; give --limit (at most \(Self.maxInputBytes >> 20) MiB)"
            )
        }
        var inputs: [Tensor] = []
        for batch in EstimationShift.batches(pipeline, dataset: data, limit: count, batchSize: batch) { inputs.append(try batch.get()) }
        let images = inputs.reduce(0) { $0 + $1.shape[0] }

        let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
        let before = EstimationShift.layers(pipeline.classifier, measured: try EstimationShift.inputMoments(pipeline.classifier, inputs: inputs))
        let (_, statistics) = try EstimationShift.recalibrated(pipeline.classifier, inputs: inputs, afterLayer: bar.update)
        bar.finish()
        let description = "recalibrated on dataset:\(data.name) (\(images) images)"
        try CheckpointFolder.writeRecalibrated(
            from: folder, to: out, statistics: statistics, metadata: ["nfserve_statistics": description, "nfserve_recalibrated_from": pipeline.name])
        // Measured with the folder as written, loaded back: what a server given it will use.
        let written = try ModelPipeline.load(directory: out)
        let after = EstimationShift.layers(written.classifier, measured: try EstimationShift.inputMoments(written.classifier, inputs: inputs))
        let layers = zip(before, after).filter { $0.0.kind == "batchnorm" }.map { b, a in
            Layer(
                name: b.name, channels: b.channels, esmMeanBefore: b.esmMean, esmVarBefore: b.esmVar, esmMeanAfter: a.esmMean, esmVarAfter: a.esmVar)
        }
        let summary = Summary(model: pipeline.name, dataset: data.name, images: images, out: out, statistics: description, layers: layers)
        print(String(decoding: try JSONEncoder.api.encode(summary), as: UTF8.self))
    }
}
