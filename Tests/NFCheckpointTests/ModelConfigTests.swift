import Foundation
import Testing

@testable import NFCheckpoint

/// `config.json` as timm's `save_config_for_hf` writes it.
@Suite struct ModelConfigTests {
    /// Written by timm 1.0.31's save_config_for_hf for resnet50.a1_in1k.
    static let resnet50 = """
        {
          "architecture": "resnet50",
          "num_classes": 1000,
          "num_features": 2048,
          "global_pool": "avg",
          "model_args": {"in_chans": 3, "num_classes": 1000, "global_pool": "avg"},
          "pretrained_cfg": {
            "tag": "a1_in1k",
            "custom_load": false,
            "input_size": [3, 224, 224],
            "test_input_size": [3, 288, 288],
            "fixed_input_size": false,
            "interpolation": "bicubic",
            "crop_pct": 0.95,
            "test_crop_pct": 1.0,
            "crop_mode": "center",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "num_classes": 1000,
            "pool_size": [7, 7],
            "first_conv": "conv1",
            "classifier": "fc",
            "license": "apache-2.0",
            "origin_url": "https://github.com/huggingface/pytorch-image-models",
            "paper_ids": "arXiv:2110.00476"
          }
        }
        """

    static let fashionMNIST = """
        {
          "architecture": "resnet_fmnist",
          "num_classes": 10,
          "num_features": 256,
          "label_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
          "model_args": {"in_chans": 1, "channels": [32, 64, 128, 256]},
          "pretrained_cfg": {
            "input_size": [1, 28, 28],
            "interpolation": "bilinear",
            "crop_pct": 1.0,
            "mean": [0.286],
            "std": [0.353],
            "num_classes": 10
          }
        }
        """

    func config(_ json: String) throws -> ModelConfig {
        try ModelConfig(jsonData: Array(json.utf8))
    }

    func configError(_ json: String) -> CheckpointError? {
        do {
            _ = try config(json)
            return nil
        } catch {
            return error as? CheckpointError
        }
    }

    @Test func fullTimmConfig() throws {
        let config = try config(Self.resnet50)
        #expect(config.architecture == "resnet50")
        #expect(config.numClasses == 1000)
        #expect(config.numFeatures == 2048)
        #expect(config.globalPool == "avg")
        #expect(config.modelArgs["in_chans"] == .number(3))
        #expect(config.labelNames == nil)
        let cfg = config.pretrainedCfg
        #expect(cfg.inputSize == [3, 224, 224])
        #expect(cfg.testInputSize == [3, 288, 288])
        #expect(cfg.interpolation == "bicubic")
        #expect(cfg.cropPct == 0.95)
        #expect(cfg.testCropPct == 1.0)
        #expect(cfg.cropMode == "center")
        #expect(cfg.mean == [0.485, 0.456, 0.406])
        #expect(cfg.std == [0.229, 0.224, 0.225])
        #expect(cfg.numClasses == 1000)
        #expect(cfg.poolSize == [7, 7])
        #expect(cfg.firstConv == "conv1")
        #expect(cfg.classifier == "fc")
        #expect(cfg.tag == "a1_in1k")
        #expect(cfg.fixedInputSize == false)
        #expect(cfg.customLoad == false)
        #expect(cfg.raw["license"] == .string("apache-2.0"))
        #expect(config.raw["num_features"]?.intValue == 2048)
    }

    @Test func minimalConfigGetsTimmDefaults() throws {
        let config = try config(#"{"architecture": "resnet18"}"#)
        #expect(config.architecture == "resnet18")
        #expect(config.numClasses == 1000)
        #expect(config.numFeatures == nil)
        #expect(config.modelArgs.isEmpty)
        #expect(config.labelNames == nil)
        var defaults = PretrainedConfig()
        defaults.raw = ["architecture": .string("resnet18")]  // legacy flat layout: the top level is the pretrained cfg
        #expect(config.pretrainedCfg == defaults)
        let cfg = config.pretrainedCfg
        #expect(cfg.inputSize == [3, 224, 224])
        #expect(cfg.interpolation == "bicubic")  // timm resolve_data_config's fallback
        #expect(cfg.cropPct == 0.875)
        #expect(cfg.cropMode == "center")
        #expect(cfg.mean == [0.485, 0.456, 0.406])
        #expect(cfg.std == [0.229, 0.224, 0.225])
        #expect(cfg.numClasses == nil)
    }

    @Test func emptyPretrainedCfgGetsDefaults() throws {
        let config = try config(
            #"{"architecture": "resnet18", "num_classes": 5, "pretrained_cfg": {"crop_pct": 0, "interpolation": "", "mean": null}}"#)
        #expect(config.numClasses == 5)
        #expect(config.pretrainedCfg.numClasses == 5)  // the top level overrides, as in timm's _parse_model_cfg
        #expect(config.pretrainedCfg.cropPct == 0.875)
        #expect(config.pretrainedCfg.interpolation == "bicubic")
        #expect(config.pretrainedCfg.mean == PretrainedConfig.imagenetDefaultMean)
    }

    @Test func oneChannelFashionMNIST() throws {
        let config = try config(Self.fashionMNIST)
        #expect(config.numClasses == 10)
        #expect(config.modelArgs["in_chans"]?.intValue == 1)
        #expect(config.modelArgs["channels"]?.intArray == [32, 64, 128, 256])
        #expect(config.labelNames?.count == 10)
        #expect(config.labelNames?.first == "T-shirt/top")
        #expect(config.labelNames?.last == "Ankle boot")
        #expect(config.pretrainedCfg.inputSize == [1, 28, 28])
        #expect(config.pretrainedCfg.mean == [0.286])
        #expect(config.pretrainedCfg.std == [0.353])
        #expect(config.pretrainedCfg.interpolation == "bilinear")
        #expect(config.pretrainedCfg.cropPct == 1.0)
    }

    @Test func inChansOverridesInputSizeAndAveragesNormalization() throws {
        // An ImageNet pretrained_cfg re-used for 1-channel weights: timm takes the channels from
        // model_args and averages the 3-channel mean/std (with a warning).
        let config = try config(
            #"{"architecture": "resnet18", "model_args": {"in_chans": 1}, "pretrained_cfg": {"input_size": [3, 224, 224], "test_input_size": [3, 288, 288]}}"#
        )
        #expect(config.pretrainedCfg.inputSize == [1, 224, 224])
        #expect(config.pretrainedCfg.testInputSize == [1, 288, 288])
        #expect(abs(config.pretrainedCfg.mean[0] - 0.449) < 1e-12 && config.pretrainedCfg.mean.count == 1)
        #expect(abs(config.pretrainedCfg.std[0] - 0.226) < 1e-12 && config.pretrainedCfg.std.count == 1)
    }

    @Test func legacyFlatLayout() throws {
        let config = try config(
            #"{"architecture": "resnet18", "num_features": 512, "num_classes": 3, "input_size": [3, 256, 256], "labels": ["a", "b", "c"]}"#)
        #expect(config.numClasses == 3)
        #expect(config.pretrainedCfg.inputSize == [3, 256, 256])
        #expect(config.labelNames == ["a", "b", "c"])
    }

    @Test func labelNamesAsIndexMap() throws {
        let config = try config(#"{"architecture": "m", "num_classes": 2, "label_names": {"1": "dog", "0": "cat"}}"#)
        #expect(config.labelNames == ["cat", "dog"])
        let gap = configError(#"{"architecture": "m", "num_classes": 2, "label_names": {"0": "cat", "2": "dog"}}"#)
        #expect(gap?.description.contains(#""label_names" keys must be the class indices 0..<2"#) == true)
    }

    @Test func loadReadsAFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try directory.write(Array(Self.resnet50.utf8), to: "config.json")
        let config = try ModelConfig.load(path: path)
        #expect(config.architecture == "resnet50")
        #expect(try ModelConfig(jsonData: Data(Self.resnet50.utf8)).pretrainedCfg == config.pretrainedCfg)

        let missing = directory.url.appendingPathComponent("none.json").path
        let error = #expect(throws: CheckpointError.self) { try ModelConfig.load(path: missing) }
        #expect(error?.description.hasPrefix("\(missing): cannot open: ") == true)
    }

    @Test func notJSON() {
        let error = configError("architecture: resnet50")
        #expect(error?.description.hasPrefix("config.json: not valid JSON: unexpected 'a', expected a value at byte 0") == true)
        #expect(configError("[1, 2]") == .invalidConfig(file: "config.json", reason: "must be a JSON object, got array [1,2]"))
    }

    @Test func missingArchitecture() {
        let error = configError(#"{"num_classes": 10}"#)
        #expect(error == .invalidConfig(file: "config.json", reason: #"missing "architecture" (the timm model name, e.g. "resnet50")"#))
        #expect(configError(#"{"architecture": 50}"#)?.description == #"config.json: "architecture" must be a non-empty string, got number 50"#)
    }

    @Test func wrongTypes() {
        #expect(
            configError(#"{"architecture": "resnet50", "num_classes": "1000"}"#)?.description
                == #"config.json: "num_classes" must be an integer, got string "1000""#)
        #expect(
            configError(#"{"architecture": "resnet50", "num_classes": 10.5}"#)?.description
                == #"config.json: "num_classes" must be an integer, got number 10.5"#)
        #expect(
            configError(#"{"architecture": "resnet50", "num_classes": -1}"#)?.description
                == #"config.json: "num_classes" must be at least 0, got -1"#)
        #expect(
            configError(#"{"architecture": "r", "pretrained_cfg": {"crop_pct": "0.9"}}"#)?.description
                == #"config.json: "pretrained_cfg.crop_pct" must be a number, got string "0.9""#)
        #expect(
            configError(#"{"architecture": "r", "pretrained_cfg": {"input_size": [224, 224]}}"#)?.description
                == #"config.json: "pretrained_cfg.input_size" must be three positive integers [C, H, W], got [224, 224]"#)
        #expect(
            configError(#"{"architecture": "r", "pretrained_cfg": {"std": [0.2, 0, 0.2]}}"#)?.description
                == #"config.json: "pretrained_cfg.std" must be positive, got [0.2, 0, 0.2]"#)
        #expect(
            configError(#"{"architecture": "r", "model_args": []}"#)?.description
                == #"config.json: "model_args" must be an object, got array []"#)
        #expect(
            configError(#"{"architecture": "r", "num_classes": 2, "label_names": ["a"]}"#)?.description
                == #"config.json: "label_names" has 1 names but the model has 2 classes"#)
    }
}
