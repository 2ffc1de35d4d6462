import ArgumentParser

@main
struct NFServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfserve",
        abstract: "Serve, evaluate and look inside CNN image classifiers (timm checkpoints).",
        version: "0.1.0",
        subcommands: [ServeCommand.self, PredictCommand.self, BenchCommand.self]
    )
}
