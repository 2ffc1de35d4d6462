import Foundation

/// A model named `hf:ORG/NAME` or `hf:ORG/NAME@REVISION`, found offline in the local Hugging
/// Face cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, in the
/// layout `huggingface_hub` writes (`models--ORG--NAME/refs/REVISION` holds a commit hash,
/// `models--ORG--NAME/snapshots/COMMIT/` the files, as links into `blobs/`). Nothing is
/// downloaded: a model not in the cache is an error that says where it looked.
public struct HubModelReference: Sendable, Equatable {
    public static let prefix = "hf:"

    public let organization: String
    public let name: String
    /// A branch or tag (`refs/` in the cache) or a commit hash; `main` when none was given.
    public let revision: String

    /// Parses `hf:ORG/NAME[@REVISION]`; nil when `text` does not start with `hf:`.
    /// Throws for a reference that does start with it but is malformed.
    public init?(_ text: String) throws(HubCacheError) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let body = text.dropFirst(Self.prefix.count)
        let parts = body.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let repo = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        let revision = parts.count == 2 ? String(parts[1]) : "main"
        guard repo.count == 2, repo.allSatisfy(Self.isComponent),
            Self.isComponent(Substring(revision)) || revision.contains("/") && Self.isRef(revision)
        else {
            throw HubCacheError("\"\(text)\" is not a Hugging Face model reference: expected hf:ORG/NAME or hf:ORG/NAME@REVISION")
        }
        organization = String(repo[0])
        name = String(repo[1])
        self.revision = revision
    }

    /// `ORG/NAME`.
    public var repository: String { "\(organization)/\(name)" }

    /// The cache folder: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    public static func cacheFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let hub = environment["HF_HUB_CACHE"], !hub.isEmpty { return hub }
        if let home = environment["HF_HOME"], !home.isEmpty { return home + "/hub" }
        let user = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return user + "/.cache/huggingface/hub"
    }

    /// The snapshot folder of this revision in `cache`: the commit `refs/REVISION` names, or
    /// REVISION itself when it is a commit the cache holds.
    public func snapshot(in cache: String) throws(HubCacheError) -> String {
        let repoFolder = cache + "/models--\(organization)--\(name)"
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: repoFolder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HubCacheError(
                "hf:\(repository) is not in the Hugging Face cache (looked for \(repoFolder)); nothing is downloaded: fetch it first with huggingface_hub (for a timm model, timm.create_model(\"hf-hub:\(repository)\", pretrained=True) does), or set HF_HOME or HF_HUB_CACHE"
            )
        }
        var commit = revision
        let ref = repoFolder + "/refs/" + revision
        if let text = try? String(contentsOfFile: ref, encoding: .utf8) {
            commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let snapshot = repoFolder + "/snapshots/" + commit
        guard Self.isComponent(Substring(commit)), manager.fileExists(atPath: snapshot, isDirectory: &isDirectory), isDirectory.boolValue else {
            let available = (try? manager.contentsOfDirectory(atPath: repoFolder + "/refs"))?.sorted() ?? []
            throw HubCacheError(
                "hf:\(repository)@\(revision): the cache holds no snapshot for this revision (\(repoFolder)); refs there: \(available.isEmpty ? "none" : available.joined(separator: ", "))"
            )
        }
        return snapshot
    }

    /// A file or folder name: no separators, not `.` or `..`, nothing hidden.
    private static func isComponent(_ text: Substring) -> Bool {
        !text.isEmpty && text != "." && text != ".." && !text.hasPrefix(".") && !text.contains("/")
    }

    /// A ref with slashes (`refs/pr/1` is written `pr/1`): every part a component.
    private static func isRef(_ text: String) -> Bool {
        text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(isComponent)
    }
}

/// A Hugging Face reference that is malformed, or not in the cache; the message says which and
/// where it looked.
public struct HubCacheError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
