import Foundation
import Testing

@testable import NFServing

/// What `nfserve serve --checkpoints / --model-dir / --model-name` serve, and the paths that must
/// stop the start instead of serving nothing and reporting ready.
@Suite struct ModelSourceTests {
    /// `root/repo/{a,b}` (model folders: each holds a config.json), `root/empty`.
    static func layout() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-source-\(UUID().uuidString)")
        for model in ["repo/a", "repo/b"] {
            let folder = root.appendingPathComponent(model)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: folder.appendingPathComponent("config.json"))
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        return root
    }

    @Test func repositoriesAndSingleFolders() throws {
        let root = try Self.layout()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo").path, a = root.appendingPathComponent("repo/a").path
        #expect(try ModelSource.resolve(checkpoints: repo, modelDir: nil, modelName: nil) == .repository(repo))
        // An empty repository is a repository: models may be added and loaded later.
        let empty = root.appendingPathComponent("empty").path
        #expect(try ModelSource.resolve(checkpoints: empty, modelDir: nil, modelName: nil) == .repository(empty))
        // --checkpoints naming a model folder serves that one model.
        #expect(try ModelSource.resolve(checkpoints: a, modelDir: nil, modelName: nil) == .single(name: "a", directory: a))
        #expect(try ModelSource.resolve(checkpoints: a, modelDir: nil, modelName: "m") == .single(name: "m", directory: a))
        // --model-dir wins over --checkpoints (KServe's /mnt/models with a {{.Name}}).
        #expect(try ModelSource.resolve(checkpoints: repo, modelDir: a, modelName: "iris") == .single(name: "iris", directory: a))
        #expect(try ModelSource.resolve(checkpoints: "/nonexistent", modelDir: a, modelName: nil) == .single(name: "a", directory: a))
    }

    @Test func pathsThatDoNotServeStopTheStart() throws {
        let root = try Self.layout()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo").path
        func message(_ checkpoints: String, _ modelDir: String?, _ modelName: String?) -> String {
            do {
                _ = try ModelSource.resolve(checkpoints: checkpoints, modelDir: modelDir, modelName: modelName)
                return "resolved"
            } catch { return error.description }
        }
        #expect(message("/nonexistent", nil, nil).contains("--checkpoints /nonexistent: no such folder"))
        #expect(message(repo, "/nonexistent", nil).contains("--model-dir /nonexistent: no such folder"))
        #expect(message(repo, repo, nil).contains("holds no config.json"))
        #expect(message(repo, nil, "m").contains("--model-name names the one model"))
        #expect(message(repo, root.appendingPathComponent("repo/a").path, "a/b").contains("a model name is letters"))
        #expect(message(repo, "hf:timm/x", nil).contains("--model-dir"))
        #expect(message(repo, "hf:nonsense", nil).contains("not a Hugging Face model reference"))
    }

    @Test func hubReferencesResolveInTheCache() throws {
        let hub = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-hub-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hub) }
        let snapshot = hub.appendingPathComponent("hub/models--timm--tiny.a1/snapshots/c0ffee")
        try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: snapshot.appendingPathComponent("config.json"))
        try FileManager.default.createDirectory(at: hub.appendingPathComponent("hub/models--timm--tiny.a1/refs"), withIntermediateDirectories: true)
        try Data("c0ffee".utf8).write(to: hub.appendingPathComponent("hub/models--timm--tiny.a1/refs/main"))
        let environment = ["HF_HOME": hub.path]
        #expect(
            try ModelSource.resolve(checkpoints: "/nonexistent", modelDir: "hf:timm/tiny.a1", modelName: nil, environment: environment)
                == .single(name: "tiny.a1", directory: snapshot.path))
        #expect(
            try ModelSource.resolve(checkpoints: "/nonexistent", modelDir: "hf:timm/tiny.a1@c0ffee", modelName: "t", environment: environment)
                == .single(name: "t", directory: snapshot.path))
    }
}
