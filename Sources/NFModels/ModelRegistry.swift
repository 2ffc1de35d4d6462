import NFCheckpoint
import NFLayers

/// Architectures nfserve builds, by timm's registered name.
public enum ModelRegistry {
    /// Every registered name, sorted.
    public static var architectures: [String] {
        (Array(ResNetConfig.variants.keys) + Array(NormFreeConfig.variants.keys)).sorted()
    }

    /// Builds `architecture` with config.json `model_args` overrides (plus the top-level
    /// `num_classes`, which timm passes to create_model too), taking its tensors from `weights`.
    public static func build(
        architecture: String, numClasses: Int?, modelArgs: [String: JSONValue],
        weights: WeightLoader
    ) throws -> any ImageClassifier {
        var args = ModelArguments(modelArgs, architecture: architecture)
        if var config = ResNetConfig.variants[architecture] {
            if let numClasses { config.numClasses = numClasses }
            try config.apply(&args)
            try args.finish()
            return try ResNet(architecture: architecture, config: config, weights: weights.root)
        }
        if var config = NormFreeConfig.variants[architecture] {
            if let numClasses { config.numClasses = numClasses }
            try config.apply(&args)
            try args.finish()
            return try NormFreeNet(architecture: architecture, config: config, weights: weights.root)
        }
        throw ModelBuildError("architecture \"\(architecture)\" is not supported; nfserve builds: \(architectures.joined(separator: ", "))")
    }
}
