import NFLayers
import NFTensors

/// One point of a signal propagation plot (Brock, De & Smith 2021): point 0 is the stem's
/// output, point i the output of residual block i, with its branch's variance.
public struct SignalPropagationPoint: Sendable, Equatable {
    public var index: Int
    /// Checkpoint-style key prefix: "stem", "layer2.0", "stages.1.0".
    public var name: String
    public var averageSquaredChannelMean: Double
    public var averageChannelVariance: Double
    /// The residual branch's average channel variance; nil for the stem.
    public var residualVariance: Double?
}

/// Listens to a forward pass (or several, whose statistics it pools) and accumulates the SPP's
/// three statistics at the sites models report: `.stemOutput`, `.blockOutput`, `.residualBranch`.
/// One recorder per request, used on the thread that runs the forward pass.
public final class SignalPropagationRecorder: ForwardObserver {
    private var stem: ChannelMoments?
    private var blocks: [Int: (name: String, output: ChannelMoments?, branch: ChannelMoments?)] = [:]

    public init() {}

    public func observe(_ site: ObservationSite, _ activation: Tensor) {
        switch site {
        case .stemOutput:
            Self.accumulate(&stem, activation)
        case let .blockOutput(index, name):
            var entry = blocks[index] ?? (name, nil, nil)
            Self.accumulate(&entry.output, activation)
            blocks[index] = entry
        case let .residualBranch(index, name):
            var entry = blocks[index] ?? (name, nil, nil)
            Self.accumulate(&entry.branch, activation)
            blocks[index] = entry
        case .normalizationInput:
            break
        }
    }

    private static func accumulate(_ moments: inout ChannelMoments?, _ activation: Tensor) {
        var current = moments ?? ChannelMoments(channels: activation.nchw.c)
        current.add(activation)
        moments = current
    }

    /// The points in network order: the stem, then every block whose output was seen.
    public var points: [SignalPropagationPoint] {
        var points: [SignalPropagationPoint] = []
        if let stem {
            points.append(SignalPropagationPoint(index: 0, name: "stem", averageSquaredChannelMean: stem.averageSquaredMean,
                                                 averageChannelVariance: stem.averageVariance, residualVariance: nil))
        }
        for index in blocks.keys.sorted() {
            guard let entry = blocks[index], let output = entry.output else { continue }
            points.append(SignalPropagationPoint(index: index + 1, name: entry.name,
                                                 averageSquaredChannelMean: output.averageSquaredMean,
                                                 averageChannelVariance: output.averageVariance,
                                                 residualVariance: entry.branch?.averageVariance))
        }
        return points
    }
}
