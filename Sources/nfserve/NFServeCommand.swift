import ArgumentParser
import Foundation
import NFServer
import NFServing

@main
struct NFServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfserve",
        abstract: "Serve, evaluate and look inside CNN image classifiers (timm checkpoints).",
        version: nfserveVersion,
        subcommands: [
            ServeCommand.self, PredictCommand.self, EvalCommand.self, BenchCommand.self, SppCommand.self, EsmCommand.self, RecalibrateCommand.self,
            CalibrateCommand.self, PrecisionCommand.self,
            ArchitecturesCommand.self,
        ]
    )

    // OpenMP waiting: in the server, idle threads spin 10,000 times, then sleep (`OpenMPWaiting`);
    // the other commands keep libgomp's default (300,000). Passive waiting would pay a futex
    // wake-up between every two steps of a plan (docs/performance.md, "Threads").
    static func main() async {
        do {
            var command = try parseAsRoot()
            if command is ServeCommand { OpenMPWaiting.applyDefault() }
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
