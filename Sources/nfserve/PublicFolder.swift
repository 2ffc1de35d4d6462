import Foundation

/// Where the dashboard's static files are: `--public DIR`, else `Public` next to the binary
/// (the Docker image and a copied release), else `./Public` (the repository).
enum PublicFolder {
    static func resolve(_ given: String?) throws -> String? {
        func isFolder(_ path: String) -> Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        if let given {
            guard isFolder(given) else { throw ValidationErrorMessage("--public \(given): no such folder") }
            return given
        }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("Public").path
        if isFolder(beside) { return beside }
        return isFolder("Public") ? "Public" : nil
    }
}
