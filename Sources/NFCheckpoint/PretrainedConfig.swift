/// timm's `pretrained_cfg`: how the weights expect their input to be prepared.
///
/// Absent fields take the values timm's `resolve_data_config` (timm/data/config.py) falls back to,
/// because that is what timm itself would feed the model. timm tests fields for truthiness there,
/// so an empty string, an empty list or a zero `crop_pct` also fall back, and so does `null`.
public struct PretrainedConfig: Sendable, Equatable {
    /// `(in_chans, 224, 224)` with timm's default of 3 channels.
    public static let defaultInputSize = [3, 224, 224]
    /// resolve_data_config's fallback. (timm's `create_transform` defaults to bilinear, but it is
    /// always handed the resolved value, so bicubic is what a config without the field gets.)
    public static let defaultInterpolation = "bicubic"
    /// `DEFAULT_CROP_PCT` in timm/data/constants.py.
    public static let defaultCropPct = 0.875
    /// `DEFAULT_CROP_MODE` in timm/data/constants.py.
    public static let defaultCropMode = "center"
    /// `IMAGENET_DEFAULT_MEAN`.
    public static let imagenetDefaultMean = [0.485, 0.456, 0.406]
    /// `IMAGENET_DEFAULT_STD`.
    public static let imagenetDefaultStd = [0.229, 0.224, 0.225]

    /// `[C, H, W]` the weights were trained at.
    /// The largest side of an input nfserve runs a network at: a checkpoint's declared input
    /// size, an FP32 infer input, an IDX dataset's images.
    public static let maxInputSide = 4096
    public var inputSize: [Int]
    /// Resize filter name as timm spells it ("bilinear", "bicubic", "nearest", ...).
    public var interpolation: String
    /// Fraction of the resized image kept by the eval crop: resize to `size / cropPct`, crop `size`.
    public var cropPct: Double
    /// "center", "squash" or "border" (timm's eval transforms).
    public var cropMode: String
    /// Per-channel normalization mean: one value per input channel, or a single value for all.
    public var mean: [Double]
    /// Per-channel normalization std, same length rules as ``mean``.
    public var std: [Double]
    public var numClasses: Int?
    /// The larger eval resolution some weights recommend (timm's `use_test_size`).
    public var testInputSize: [Int]?
    /// The crop fraction to use with ``testInputSize``.
    public var testCropPct: Double?
    /// Whether the model only accepts ``inputSize`` (e.g. ViTs with fixed position embeddings).
    public var fixedInputSize: Bool
    /// Spatial size of the final feature map at ``inputSize``.
    public var poolSize: [Int]?
    /// Name of the stem convolution (where channel adaptation applies).
    public var firstConv: String?
    /// Name of the classifier layer (dropped or resized when `num_classes` changes).
    public var classifier: String?
    /// The weight tag, e.g. "a1_in1k" of "resnet50.a1_in1k".
    public var tag: String?
    /// Whether the weights need a model-specific loader instead of a plain state dict.
    public var customLoad: Bool
    /// The whole object as read.
    public var raw: [String: JSONValue]

    /// A config with every field at timm's default.
    public init() {
        inputSize = Self.defaultInputSize
        interpolation = Self.defaultInterpolation
        cropPct = Self.defaultCropPct
        cropMode = Self.defaultCropMode
        mean = Self.imagenetDefaultMean
        std = Self.imagenetDefaultStd
        numClasses = nil
        testInputSize = nil
        testCropPct = nil
        fixedInputSize = false
        poolSize = nil
        firstConv = nil
        classifier = nil
        tag = nil
        customLoad = false
        raw = [:]
    }

    /// Reads a `pretrained_cfg` object. `file` names the source in errors; `path` is the dotted
    /// location of the object in it ("pretrained_cfg", or "" for timm's legacy flat layout).
    public init(json: [String: JSONValue], file: String = "config.json", path: String = "pretrained_cfg") throws {
        try self.init(ConfigFields(members: json, path: path, file: file))
    }

    init(_ fields: ConfigFields) throws(CheckpointError) {
        self.init()
        raw = fields.members

        if let size = try fields.intArray("input_size") {
            try Self.checkInputSize(size, key: "input_size", fields: fields)
            inputSize = size
        }
        if let size = try fields.intArray("test_input_size") {
            try Self.checkInputSize(size, key: "test_input_size", fields: fields)
            testInputSize = size
        }
        if let name = try fields.string("interpolation"), !name.isEmpty { interpolation = name }
        if let mode = try fields.string("crop_mode"), !mode.isEmpty { cropMode = mode }
        if let pct = try fields.double("crop_pct"), pct != 0 {
            guard pct > 0 else { throw fields.error("\(fields.fieldName("crop_pct")) must be positive, got \(JSONValue.format(pct))") }
            cropPct = pct
        }
        if let pct = try fields.double("test_crop_pct"), pct != 0 {
            guard pct > 0 else { throw fields.error("\(fields.fieldName("test_crop_pct")) must be positive, got \(JSONValue.format(pct))") }
            testCropPct = pct
        }
        if let values = try fields.doubleList("mean"), !values.isEmpty { mean = values }
        if let values = try fields.doubleList("std"), !values.isEmpty { std = values }
        if std.contains(where: { $0 <= 0 }) {
            throw fields.error("\(fields.fieldName("std")) must be positive, got [\(std.map(JSONValue.format).joined(separator: ", "))]")
        }
        numClasses = try fields.int("num_classes", minimum: 0)
        fixedInputSize = try fields.bool("fixed_input_size") ?? false
        customLoad = try fields.bool("custom_load") ?? false
        if let size = try fields.intArray("pool_size") { poolSize = size }
        firstConv = try fields.string("first_conv")
        classifier = try fields.string("classifier")
        tag = try fields.string("tag")
    }

    /// Makes ``mean`` and ``std`` usable for `channels` input channels the way timm's
    /// `resolve_input_data_config` does: one value or one per channel is kept, any other count is
    /// replaced by its average (timm logs a warning and does the same).
    mutating func adaptNormalization(toChannels channels: Int) {
        if mean.count != 1 && mean.count != channels { mean = [mean.reduce(0, +) / Double(mean.count)] }
        if std.count != 1 && std.count != channels { std = [std.reduce(0, +) / Double(std.count)] }
    }

    private static func checkInputSize(_ size: [Int], key: String, fields: ConfigFields) throws(CheckpointError) {
        guard size.count == 3, size.allSatisfy({ $0 > 0 }) else {
            throw fields.error("\(fields.fieldName(key)) must be three positive integers [C, H, W], got \(size)")
        }
    }
}
