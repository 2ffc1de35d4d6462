import Foundation
import Testing

@testable import NFCheckpoint

/// `hf:ORG/NAME[@REVISION]` found offline in a Hugging Face cache laid out as `huggingface_hub`
/// writes it (refs/ naming commits, snapshots/COMMIT/ holding links into blobs/); the layout is
/// built here by hand, as that library documents it.
@Suite struct HubCacheTests {
    @Test func parsesReferences() throws {
        let plain = try #require(try HubModelReference("hf:timm/resnet50.a1_in1k"))
        #expect(plain.organization == "timm" && plain.name == "resnet50.a1_in1k" && plain.revision == "main")
        let pinned = try #require(try HubModelReference("hf:timm/resnet50.a1_in1k@0123abcd"))
        #expect(pinned.revision == "0123abcd")
        #expect(try HubModelReference("timm/resnet50") == nil)
        #expect(try HubModelReference("./checkpoints/x") == nil)
        for bad in ["hf:", "hf:resnet50", "hf:timm/", "hf:/resnet50", "hf:timm/a/b", "hf:timm/..", "hf:timm/x@", "hf:timm/x@../../etc"] {
            #expect(throws: HubCacheError.self, "\(bad)") { try HubModelReference(bad) }
        }
    }

    @Test func cacheFolderFollowsTheEnvironment() {
        #expect(HubModelReference.cacheFolder(environment: ["HF_HUB_CACHE": "/a", "HF_HOME": "/b", "HOME": "/c"]) == "/a")
        #expect(HubModelReference.cacheFolder(environment: ["HF_HOME": "/b", "HOME": "/c"]) == "/b/hub")
        #expect(HubModelReference.cacheFolder(environment: ["HOME": "/c"]) == "/c/.cache/huggingface/hub")
    }

    /// A cache with `timm/tiny` at two commits: `main` and the tag `v1` name one each.
    static func makeCache() throws -> URL {
        let hub = FileManager.default.temporaryDirectory.appendingPathComponent("nfserve-hub-\(UUID().uuidString)")
        let repo = hub.appendingPathComponent("models--timm--tiny")
        let manager = FileManager.default
        try manager.createDirectory(at: repo.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try manager.createDirectory(at: repo.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        for (commit, content) in [("aaaa1111", "{\"v\": 1}"), ("bbbb2222", "{\"v\": 2}")] {
            let snapshot = repo.appendingPathComponent("snapshots/\(commit)")
            try manager.createDirectory(at: snapshot, withIntermediateDirectories: true)
            try Data(content.utf8).write(to: repo.appendingPathComponent("blobs/blob-\(commit)"))
            try manager.createSymbolicLink(
                atPath: snapshot.appendingPathComponent("config.json").path, withDestinationPath: "../../blobs/blob-\(commit)")
        }
        try Data("bbbb2222\n".utf8).write(to: repo.appendingPathComponent("refs/main"))
        try Data("aaaa1111".utf8).write(to: repo.appendingPathComponent("refs/v1"))
        return hub
    }

    @Test func resolvesRefsAndCommits() throws {
        let hub = try Self.makeCache()
        defer { try? FileManager.default.removeItem(at: hub) }
        func config(_ text: String) throws -> String {
            let folder = try #require(try HubModelReference(text)).snapshot(in: hub.path)
            return try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        }
        #expect(try config("hf:timm/tiny") == "{\"v\": 2}")
        #expect(try config("hf:timm/tiny@v1") == "{\"v\": 1}")
        #expect(try config("hf:timm/tiny@bbbb2222") == "{\"v\": 2}")
        let missing = try #require(try HubModelReference("hf:timm/absent"))
        #expect { try missing.snapshot(in: hub.path) } throws: { error in
            "\(error)".contains("not in the Hugging Face cache") && "\(error)".contains("models--timm--absent")
        }
        let noRevision = try #require(try HubModelReference("hf:timm/tiny@v9"))
        #expect { try noRevision.snapshot(in: hub.path) } throws: { error in
            "\(error)".contains("no snapshot for this revision") && "\(error)".contains("main, v1")
        }
    }
}
