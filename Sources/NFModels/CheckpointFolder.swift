import Foundation
import NFCheckpoint
import NFLayers

/// A checkpoint folder in the timm / Hugging Face Hub layout, built into a classifier:
/// `config.json` (architecture, num_classes, model_args, pretrained_cfg, label_names) and
/// `model.safetensors` (timm's state_dict names).
public struct LoadedModel: Sendable {
    /// The model's name: its folder's, unless it was served under another (`--model-name`).
    public let name: String
    public let directory: String
    public let config: ModelConfig
    public let classifier: any ImageClassifier
    /// One name per class: config.json `label_names`, else the ImageNet-1k names for a
    /// 1000-class model, else the class indices.
    public let labels: [String]

    public var numClasses: Int { classifier.numClasses }

    /// The same checkpoint with another network built from it (recalibrated statistics).
    public func replacing(classifier: any ImageClassifier) -> LoadedModel {
        LoadedModel(name: name, directory: directory, config: config, classifier: classifier, labels: labels)
    }
}

/// Why a checkpoint folder could not be loaded, with the folder named.
public struct CheckpointLoadError: Error, CustomStringConvertible, Sendable {
    public let directory: String
    public let reason: String
    public var description: String { "\(directory): \(reason)" }
}

public enum CheckpointFolder {
    /// The largest side of an input nfserve runs a network at (`PretrainedConfig.maxInputSide`).
    public static let maxInputSide = PretrainedConfig.maxInputSide
    /// The largest input (H * W) a checkpoint may declare: 4096 x 4096.
    public static let maxInputPixels = maxInputSide * maxInputSide

    /// Loads and verifies the folder at `path`: every tensor present, none unused, shapes equal.
    /// The model is named `name`, else after the folder.
    public static func load(_ path: String, name: String? = nil) throws -> LoadedModel {
        let directory = URL(fileURLWithPath: path).standardizedFileURL
        func failure(_ reason: String) -> CheckpointLoadError {
            CheckpointLoadError(directory: directory.path, reason: reason)
        }
        let configPath = directory.appendingPathComponent("config.json").path
        let weightsPath = directory.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: configPath) else { throw failure("no config.json") }
        guard FileManager.default.fileExists(atPath: weightsPath) else { throw failure("no model.safetensors") }
        do {
            let config = try ModelConfig.load(path: configPath)
            let file = try SafeTensorsFile(path: weightsPath)
            let classifier = try build(config: config, weights: SafeTensorsWeightSource(file: file))
            return LoadedModel(
                name: name ?? directory.lastPathComponent, directory: directory.path, config: config,
                classifier: classifier, labels: try labels(config: config, classes: classifier.numClasses))
        } catch let error as CheckpointLoadError {
            throw error
        } catch {
            throw failure("\(error)")
        }
    }

    /// Builds the architecture `config` describes from `weights`, checking that every tensor of
    /// the source was used and that the preprocessing's channel count fits the network.
    public static func build(config: ModelConfig, weights source: any WeightSource) throws -> any ImageClassifier {
        // The server runs one forward at this size at load (FLOPs) and preprocesses every image
        // to it: a config.json must not be able to ask for more memory than a photograph needs.
        let size = config.pretrainedCfg.inputSize
        if size.count == 3, size[1].multipliedReportingOverflow(by: size[2]).overflow || size[1] * size[2] > maxInputPixels {
            throw ModelBuildError("pretrained_cfg input_size \(size) is larger than nfserve accepts (\(maxInputPixels) pixels)")
        }
        let loader = WeightLoader(source: source)
        let classifier = try ModelRegistry.build(
            architecture: config.architecture, numClasses: config.numClasses,
            modelArgs: config.modelArgs, weights: loader)
        try loader.finish()
        let channels = config.pretrainedCfg.inputSize.first ?? classifier.inputChannels
        if channels != classifier.inputChannels {
            throw ModelBuildError(
                "pretrained_cfg input_size has \(channels) channel(s) but the network takes \(classifier.inputChannels) (model_args in_chans)")
        }
        return classifier
    }

    static func labels(config: ModelConfig, classes: Int) throws -> [String] {
        if let names = config.labelNames {
            guard names.count == classes else {
                throw ModelBuildError("label_names has \(names.count) names for \(classes) classes")
            }
            return names
        }
        if classes == ImageNetLabels.names.count { return ImageNetLabels.names }
        return (0..<classes).map { "class \($0)" }
    }
}
