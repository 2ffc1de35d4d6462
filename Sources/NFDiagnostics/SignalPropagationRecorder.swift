import NFLayers
import NFTensors
import Synchronization

/// Listens to a forward pass (or several, whose statistics it pools) and accumulates the SPP's
/// three statistics at the sites models report: `.stemOutput`, `.blockOutput`, `.residualBranch`.
///
/// Made by the request, filled on the compute thread that runs the forward pass, read back by
/// the request: its state sits behind a `Mutex`.
public final class SignalPropagationRecorder: ForwardObserver {
    private struct Block {
        var position: BlockPosition
        var output: ChannelMoments?
        var branch: ChannelMoments?
    }

    private struct State {
        var stem: ChannelMoments?
        var blocks: [Int: Block] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var observedSites: ObservedSites { .blocks }

    public func observe(_ site: ObservationSite, _ activation: Tensor) {
        accumulate(site, channels: activation.nchw.c) { $0.add(activation) }
    }

    /// A plan's blocked activation, reduced where it lies.
    public func observe(_ site: ObservationSite, blocked activation: BlockedTensor) {
        accumulate(site, channels: activation.c) { $0.add(activation) }
    }

    private func accumulate(_ site: ObservationSite, channels: Int, _ add: (inout ChannelMoments) -> Void) {
        func update(_ moments: inout ChannelMoments?) {
            var current = moments ?? ChannelMoments(channels: channels)
            add(&current)
            moments = current
        }
        state.withLock { state in
            switch site {
            case .stemOutput:
                update(&state.stem)
            case let .blockOutput(position):
                var block = state.blocks[position.index] ?? Block(position: position)
                update(&block.output)
                state.blocks[position.index] = block
            case let .residualBranch(position):
                var block = state.blocks[position.index] ?? Block(position: position)
                update(&block.branch)
                state.blocks[position.index] = block
            case .normalizationInput, .convolutionInput:
                break
            }
        }
    }

    /// The points in network order: the stem (point 0), then every block whose output was seen.
    /// `expectedVariances`, when given, holds the analytic variance at the stem (first) and at
    /// each block's output (normalizer-free networks).
    public func points(expectedVariances: [Double]? = nil) -> [SignalPropagationPoint] {
        state.withLock { state in
            var points: [SignalPropagationPoint] = []
            if let stem = state.stem {
                points.append(
                    SignalPropagationPoint(
                        index: 0, name: "stem", stage: nil,
                        averageSquaredChannelMean: stem.averageSquaredMean,
                        averageChannelVariance: stem.averageVariance,
                        residualVariance: nil, expectedVariance: expectedVariances?.first))
            }
            for index in state.blocks.keys.sorted() {
                guard let block = state.blocks[index], let output = block.output else { continue }
                let expected = expectedVariances.flatMap { index + 1 < $0.count ? $0[index + 1] : nil }
                points.append(
                    SignalPropagationPoint(
                        index: index + 1, name: block.position.name, stage: block.position.stage,
                        averageSquaredChannelMean: output.averageSquaredMean,
                        averageChannelVariance: output.averageVariance,
                        residualVariance: block.branch?.averageVariance, expectedVariance: expected))
            }
            return points
        }
    }
}
