import ArgumentParser
import Foundation
import NFModels

/// `nfserve architectures`: the registered architectures; `--costs` builds each (zero weights)
/// and prints what it costs as JSON, the values `ArchitectureCost.table` holds.
struct ArchitecturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "architectures",
        abstract: "List the registered architectures; --costs measures each (parameters, FLOPs and largest activation per image at 32 px) as JSON.")

    @Flag(help: "Build every architecture with zero weights and print its costs (takes a minute and a few GB).")
    var costs = false

    func run() throws {
        guard costs else {
            print(ModelRegistry.architectures.joined(separator: "\n"))
            return
        }
        var measured: [String: ArchitectureCost] = [:]
        for name in ModelRegistry.architectures {
            measured[name] = try ArchitectureCost.measure(architecture: name)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(measured), as: UTF8.self))
    }
}
