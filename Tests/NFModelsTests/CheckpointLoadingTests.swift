import Foundation
import NFCheckpoint
import NFLayers
import NFModels
import NFTensors
import Testing

/// Loading verifies the checkpoint against the architecture: missing, unused and mis-shaped
/// tensors each fail with a message naming the key (and both shapes).
@Suite struct CheckpointLoadingTests {
    /// A resnet18 narrowed to [4, 4, 4, 4] channels, 1 input channel, 3 classes.
    static let config = try! ModelConfig(
        jsonData: Data(
            """
            {"architecture": "resnet18", "num_classes": 3,
             "model_args": {"in_chans": 1, "channels": [4, 4, 4, 4]},
             "pretrained_cfg": {"input_size": [1, 16, 16]}}
            """.utf8))

    /// The tensors resnet18 asks for, generated, kept in a dictionary we can then break.
    final class DictionarySource: WeightSource {
        var tensors: [String: Tensor]
        init(_ tensors: [String: Tensor]) { self.tensors = tensors }
        var keys: [String] { Array(tensors.keys) }
        func tensor(_ key: String, expectedShape: [Int]) throws -> Tensor? {
            guard let t = tensors[key] else { return nil }
            guard t.shape == expectedShape else {
                throw WeightLoadingError.shapeMismatch(key: key, expected: expectedShape, found: t.shape)
            }
            return t
        }
    }

    static func completeTensors() throws -> [String: Tensor] {
        let recorder = RecordingWeightSource(InitializerWeightSource(seed: 1))
        _ = try CheckpointFolder.build(config: config, weights: recorder)
        return recorder.recorded
    }

    @Test func completeCheckpointLoadsAndRuns() throws {
        let tensors = try Self.completeTensors()
        #expect(tensors["layer2.0.downsample.0.weight"]?.shape == [4, 4, 1, 1])
        #expect(tensors["conv1.weight"]?.shape == [64, 1, 7, 7], "a plain stem has 64 channels whatever the widths")
        let model = try CheckpointFolder.build(config: Self.config, weights: DictionarySource(tensors))
        #expect(try model(Tensor(shape: [2, 1, 16, 16])).shape == [2, 3])
    }

    @Test func missingKeyIsNamed() throws {
        var tensors = try Self.completeTensors()
        tensors["layer3.1.bn2.running_var"] = nil
        #expect {
            try CheckpointFolder.build(config: Self.config, weights: DictionarySource(tensors))
        } throws: { error in
            "\(error)".contains("missing tensor \"layer3.1.bn2.running_var\"") && "\(error)".contains("[4]")
        }
    }

    @Test func unusedKeyIsNamed() throws {
        var tensors = try Self.completeTensors()
        tensors["layer5.0.conv1.weight"] = Tensor(shape: [1])
        #expect {
            try CheckpointFolder.build(config: Self.config, weights: DictionarySource(tensors))
        } throws: { error in
            "\(error)".contains("not used") && "\(error)".contains("\"layer5.0.conv1.weight\"")
        }
    }

    @Test func numBatchesTrackedIsAccepted() throws {
        var tensors = try Self.completeTensors()
        tensors["bn1.num_batches_tracked"] = Tensor(shape: [], storage: [0])
        _ = try CheckpointFolder.build(config: Self.config, weights: DictionarySource(tensors))
    }

    @Test func shapeMismatchNamesBothShapes() throws {
        var tensors = try Self.completeTensors()
        tensors["fc.weight"] = Tensor(shape: [5, 4])
        #expect {
            try CheckpointFolder.build(config: Self.config, weights: DictionarySource(tensors))
        } throws: { error in
            "\(error)".contains("\"fc.weight\" has shape [5, 4]") && "\(error)".contains("expects [3, 4]")
        }
    }

    @Test func unknownArchitectureAndArgumentsAreRejected() throws {
        let unknown = try ModelConfig(jsonData: Data(#"{"architecture": "vit_base_patch16_224"}"#.utf8))
        #expect { try CheckpointFolder.build(config: unknown, weights: InitializerWeightSource()) } throws: {
            "\($0)".contains("vit_base_patch16_224") && "\($0)".contains("resnet50")
        }
        let badArg = try ModelConfig(jsonData: Data(#"{"architecture": "resnet18", "model_args": {"widths": 3}}"#.utf8))
        #expect { try CheckpointFolder.build(config: badArg, weights: InitializerWeightSource()) } throws: {
            "\($0)".contains("\"widths\"")
        }
    }

    @Test func safetensorsFileThroughTheLoader() throws {
        // The same check through a real file: write the complete set with one tensor mis-shaped.
        var tensors = try Self.completeTensors()
        tensors["layer1.0.conv1.weight"] = Tensor(shape: [4, 4, 3, 1])
        let entries = tensors.keys.sorted().map { key -> (name: String, dtype: DType, shape: [Int], bytes: [UInt8]) in
            let t = tensors[key]!
            let bytes = t.storage.withUnsafeBytes { Array($0) }
            return (key, .F32, t.shape, bytes)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-loader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(SafeTensorsWriter.encode(entries)).write(to: dir.appendingPathComponent("model.safetensors"))
        try Data(Self.config.rawJSON.utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect { try CheckpointFolder.load(dir.path) } throws: { error in
            "\(error)".contains("\"layer1.0.conv1.weight\" has shape [4, 4, 3, 1]") && "\(error)".contains("[4, 64, 3, 3]")
        }
    }
}

extension ModelConfig {
    /// The config re-serialized (tests write it back into a folder).
    var rawJSON: String {
        let data = try! JSONEncoder().encode(JSONValue.object(raw))
        return String(decoding: data, as: UTF8.self)
    }
}

/// config.json is untrusted: nonsensical sizes are load errors naming the problem, never a trap
/// (a division by zero in a group count, a negative dimension) or an enormous allocation.
@Suite struct HostileConfigTests {
    static func build(_ json: String) throws {
        _ = try CheckpointFolder.build(config: try ModelConfig(jsonData: Data(json.utf8)), weights: InitializerWeightSource())
    }

    @Test(arguments: [
        (#"{"architecture": "resnet50", "model_args": {"cardinality": 0, "channels": [4, 4, 4, 4]}}"#, "cardinality"),
        (#"{"architecture": "resnet18d", "model_args": {"stem_width": -8}}"#, "stem_width"),
        (#"{"architecture": "resnet18", "model_args": {"channels": [4, 0, 4, 4]}}"#, "positive"),
        (#"{"architecture": "resnet50", "model_args": {"base_width": 1, "channels": [1, 1, 1, 1]}}"#, "invalid convolution"),
        (#"{"architecture": "nf_resnet26", "model_args": {"ch_div": 0, "channels": [8, 8, 8, 8]}}"#, "ch_div"),
        (#"{"architecture": "dm_nfnet_f0", "model_args": {"group_size": -1, "channels": [8, 8, 8, 8], "num_features": 8}}"#, "group_size"),
        (#"{"architecture": "resnet18", "pretrained_cfg": {"input_size": [3, 100000, 100000]}}"#, "larger than nfserve accepts"),
    ])
    func isAClearError(json: String, mentions: String) {
        #expect { try Self.build(json) } throws: { "\($0)".contains(mentions) }
    }
}
