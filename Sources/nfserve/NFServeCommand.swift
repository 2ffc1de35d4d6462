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

    // OpenMP waiting: libgomp's default (spin up to 300,000 times at a barrier, then sleep) is
    // kept. It measured fastest both idle and beside a busy neighbour (docs/performance.md, "Threads"):
    // passive waiting pays a futex wake-up between every two steps of a plan.
    static func main() async {
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
