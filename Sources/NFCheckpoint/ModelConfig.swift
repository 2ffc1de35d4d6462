import Foundation

/// A timm checkpoint folder's `config.json`, as written by timm's `save_config_for_hf`
/// (timm/models/_hub.py) and read back by `_parse_model_cfg`.
///
/// Resolution follows `_parse_model_cfg` so that nfserve builds the model timm would build:
/// the top-level `num_classes` and `label_names` override those in `pretrained_cfg`;
/// `model_args.in_chans` overrides the channel count of `input_size` (exports record the channels
/// the weights actually have there); and a config without `pretrained_cfg` is timm's legacy flat
/// layout, where the top-level object itself is the pretrained config.
public struct ModelConfig: Sendable, Equatable {
    /// The timm model name, e.g. "resnet50".
    public var architecture: String
    /// Classifier outputs: top-level `num_classes`, else `pretrained_cfg.num_classes`, else 1000
    /// (timm's model default). 0 means the model has no classifier and returns pooled features.
    public var numClasses: Int
    /// Width of the pooled features the classifier sees (informational in timm).
    public var numFeatures: Int?
    /// The global pooling type, e.g. "avg" (informational in timm).
    public var globalPool: String?
    /// Keyword arguments for the model factory (`model_args`), empty when absent.
    public var modelArgs: [String: JSONValue]
    public var pretrainedCfg: PretrainedConfig
    /// One name per class index (`label_names`, or the legacy `labels`); a `{"0": ..., "1": ...}`
    /// map is accepted when it names every index.
    public var labelNames: [String]?
    /// Human-readable descriptions keyed by label name (`label_descriptions`).
    public var labelDescriptions: [String: String]?
    /// The whole document as read.
    public var raw: [String: JSONValue]

    /// Parses `config.json` contents; `file` names the source in errors.
    public init(jsonData: [UInt8], file: String = "config.json") throws {
        let document: JSONValue
        do {
            document = try JSONValue.parse(jsonData, rejectDuplicateKeys: false)
        } catch {
            throw CheckpointError.invalidConfig(file: file, reason: "not valid JSON: \(error.description)")
        }
        guard case let .object(root) = document else {
            throw CheckpointError.invalidConfig(file: file, reason: "must be a JSON object, got \(document.kindDescription)")
        }
        try self.init(root: root, file: file)
    }

    public init(jsonData: Data, file: String = "config.json") throws {
        try self.init(jsonData: [UInt8](jsonData), file: file)
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws -> ModelConfig {
        try ModelConfig(jsonData: readWholeFile(path: path), file: path)
    }

    private init(root: [String: JSONValue], file: String) throws(CheckpointError) {
        let top = ConfigFields(members: root, path: "", file: file)
        raw = root

        guard let architectureValue = top.value("architecture") else {
            throw top.error("missing \"architecture\" (the timm model name, e.g. \"resnet50\")")
        }
        guard let architecture = architectureValue.stringValue, !architecture.isEmpty else {
            throw top.wrongType("architecture", expected: "a non-empty string", got: architectureValue)
        }
        self.architecture = architecture
        numFeatures = try top.int("num_features", minimum: 0)
        globalPool = try top.string("global_pool")
        modelArgs = try top.object("model_args") ?? [:]

        // Legacy layout: no "pretrained_cfg", the top level holds its fields.
        let pretrainedObject = try top.object("pretrained_cfg")
        let pretrainedFields = pretrainedObject.map { ConfigFields(members: $0, path: "pretrained_cfg", file: file) } ?? top
        var pretrained = try PretrainedConfig(pretrainedFields)
        if pretrainedObject != nil, let rootClasses = try top.int("num_classes", minimum: 0) {
            pretrained.numClasses = rootClasses
        }
        numClasses = pretrained.numClasses ?? 1000

        let args = ConfigFields(members: modelArgs, path: "model_args", file: file)
        if let channels = try args.int("in_chans", minimum: 1) {
            pretrained.inputSize[0] = channels
            pretrained.testInputSize?[0] = channels
        }
        pretrained.adaptNormalization(toChannels: pretrained.inputSize[0])
        pretrainedCfg = pretrained

        labelNames = try Self.labelNames(top.has("label_names") || top.has("labels") ? top : pretrainedFields)
        if let labelNames, numClasses > 0, labelNames.count != numClasses {
            throw top.error("\"label_names\" has \(labelNames.count) names but the model has \(numClasses) classes")
        }
        labelDescriptions = try Self.labelDescriptions(top.has("label_descriptions") ? top : pretrainedFields)
    }

    private static func labelNames(_ fields: ConfigFields) throws(CheckpointError) -> [String]? {
        let key = fields.has("label_names") ? "label_names" : "labels"
        guard let value = fields.value(key) else { return nil }
        if let array = value.arrayValue {
            var names: [String] = []
            for (index, element) in array.enumerated() {
                guard let name = element.stringValue else {
                    throw fields.error("\(fields.fieldName(key))[\(index)] must be a string, got \(element.kindDescription)")
                }
                names.append(name)
            }
            return names
        }
        // timm allows {index: name} "if there are id gaps"; nfserve needs a name for every output.
        if let map = value.objectValue {
            var names = [String?](repeating: nil, count: map.count)
            for (indexKey, element) in map {
                guard let index = Int(indexKey), names.indices.contains(index), names[index] == nil else {
                    throw fields.error(
                        "\(fields.fieldName(key)) keys must be the class indices 0..<\(map.count), each once, found \(quoted(indexKey))")
                }
                guard let name = element.stringValue else {
                    throw fields.error("\(fields.fieldName(key))[\(quoted(indexKey))] must be a string, got \(element.kindDescription)")
                }
                names[index] = name
            }
            return names.map { $0! }  // map.count distinct indices below map.count: every slot is set
        }
        throw fields.wrongType(key, expected: "an array of strings", got: value)
    }

    private static func labelDescriptions(_ fields: ConfigFields) throws(CheckpointError) -> [String: String]? {
        guard let map = try fields.object("label_descriptions") else { return nil }
        var descriptions: [String: String] = [:]
        for (key, element) in map {
            guard let text = element.stringValue else {
                throw fields.error("\(fields.fieldName("label_descriptions"))[\(quoted(key))] must be a string, got \(element.kindDescription)")
            }
            descriptions[key] = text
        }
        return descriptions
    }
}
