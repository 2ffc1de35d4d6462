import ArgumentParser
import Foundation
import NFServer

@main
struct NFServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfserve",
        abstract: "Serve, evaluate and look inside CNN image classifiers (timm checkpoints).",
        version: nfserveVersion,
        subcommands: [ServeCommand.self, PredictCommand.self, EvalCommand.self, BenchCommand.self, SppCommand.self, EsmCommand.self]
    )

    static func main() async {
        OpenMPEnvironment.preferPassiveWaiting()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
