import NFTensors

/// Where a residual block sits: its index over the whole network (0-based), its stage (0-based)
/// and its checkpoint-style key prefix ("layer2.0", "stages.1.0").
public struct BlockPosition: Sendable, Hashable {
    public var index: Int
    public var stage: Int
    public var name: String

    public init(index: Int, stage: Int, name: String) {
        self.index = index
        self.stage = stage
        self.name = name
    }
}

/// A point in the forward pass where a model shows an activation to its observer.
///
/// Models report these and nothing else; they do not know which diagnostic listens. The
/// signal-propagation plot reads `.stemOutput`, `.blockOutput` and `.residualBranch`;
/// the BatchNorm estimation shift reads `.normalizationInput`.
public enum ObservationSite: Sendable, Hashable {
    /// The stem's output (after its max-pool where it has one): SPP point 0.
    case stemOutput
    /// A residual block's output: skip + branch, before any activation that follows the addition.
    case blockOutput(BlockPosition)
    /// A residual block's branch just before it joins the skip path.
    case residualBranch(BlockPosition)
    /// The input of the normalization layer whose key prefix is `name` ("layer1.0.bn1").
    case normalizationInput(name: String)
    /// What the convolution `name` ("layer1.0.conv2") reads inside an execution plan, with the
    /// scales the plan folds into its weights left out: what an int8 plan quantizes (calibration).
    case convolutionInput(name: String)
}

/// Receives activations during a forward pass, synchronously on the thread that computes it.
///
/// Observers are `Sendable`: a request makes one on its own task, hands it to the compute pool
/// where the forward pass runs, and reads the result back, so an observer with state must
/// guard it (a `Mutex`). The tensor is a value, so an observer may keep it, but cheap
/// statistics are kinder to memory.
public protocol ForwardObserver: AnyObject, Sendable {
    func observe(_ site: ObservationSite, _ activation: Tensor)
    /// The kinds of site this observer reads (all, unless it says otherwise): an execution plan
    /// keeps exactly those unfused and fuses the rest.
    var observedSites: ObservedSites { get }
    /// The same, for an activation an execution plan holds in its blocked layout. The plan
    /// reuses the buffer once this returns (it may normalize it in place): keep what is needed
    /// from it, never the tensor. By default it is copied out to plain NCHW for `observe(_:_:)`;
    /// an observer that only reduces it (`ChannelMoments.add`) reads it where it lies.
    func observe(_ site: ObservationSite, blocked activation: BlockedTensor) throws
}

extension ForwardObserver {
    public var observedSites: ObservedSites { .all }

    public func observe(_ site: ObservationSite, blocked activation: BlockedTensor) throws {
        observe(site, try activation.plain())
    }
}

/// Kinds of observation site, as an observer declares what it reads.
public struct ObservedSites: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// `.normalizationInput`: the estimation shift.
    public static let normalizationInputs = ObservedSites(rawValue: 1)
    /// `.stemOutput`, `.blockOutput`, `.residualBranch`: the signal-propagation plot.
    public static let blocks = ObservedSites(rawValue: 2)
    public static let all: ObservedSites = [.normalizationInputs, .blocks]
    /// `.convolutionInput`: int8 calibration. Shown by execution plans only, and not part of `all`.
    public static let convolutionInputs = ObservedSites(rawValue: 4)
}

/// Per-channel mean and biased variance of an `[N, C, H, W]` activation over N, H and W: what a
/// BatchNorm in training mode normalizes with. Given to a forward pass (`ForwardContext`) to run
/// BatchNorm layers on the batch's own statistics, as at initialization; the diagnostics provide
/// it from their one moments accumulator.
public protocol BatchStatistics: Sendable {
    func channelStatistics(of activation: Tensor) -> (mean: [Double], variance: [Double])
}

/// Thrown by a forward pass asked to stop at a normalization layer's input
/// (`ForwardContext.stopAtNormalization`), once that input has been shown to the observer.
public struct ForwardStopped: Error, Sendable {}

/// Per-call state of one forward pass: the optional observer, whether BatchNorm uses running or
/// batch statistics, where to stop, and a FLOP counter. Made fresh for each call, never shared
/// between threads.
public final class ForwardContext {
    public let observer: (any ForwardObserver)?
    /// When set, every BatchNorm normalizes with the batch's own statistics (training mode, as
    /// at initialization) instead of its running statistics.
    public let batchStatistics: (any BatchStatistics)?
    /// When set, the pass ends (throwing `ForwardStopped`) right after the input of the
    /// normalization layer of this name has been observed: measuring one layer costs only the
    /// layers before it (BatchNorm recalibration measures layer by layer).
    public let stopAtNormalization: String?
    /// Called by an execution plan between its steps (convolutions): where the compute pool runs
    /// other models' short passes during a long one (`ComputePool.stepBoundary`).
    public let stepBoundary: (@Sendable () -> Void)?
    /// Floating-point operations of the convolutions and linear layers run so far (2 per MAC).
    public private(set) var flops: Int = 0
    /// Elements of the largest convolution output so far (what a pass's activations scale with).
    public private(set) var largestActivation: Int = 0

    public init(
        observer: (any ForwardObserver)? = nil, batchStatistics: (any BatchStatistics)? = nil,
        stopAtNormalization: String? = nil, stepBoundary: (@Sendable () -> Void)? = nil
    ) {
        self.observer = observer
        self.batchStatistics = batchStatistics
        self.stopAtNormalization = stopAtNormalization
        self.stepBoundary = stepBoundary
    }

    @inline(__always)
    public func observe(_ site: @autoclosure () -> ObservationSite, _ activation: Tensor) {
        if let observer { observer.observe(site(), activation) }
    }

    /// Shows a normalization layer's input to the observer; throws `ForwardStopped` when the
    /// pass was asked to stop there.
    @inline(__always)
    public func observeNormalizationInput(_ name: String, _ activation: Tensor) throws {
        if let observer { observer.observe(.normalizationInput(name: name), activation) }
        if let stop = stopAtNormalization, stop == name { throw ForwardStopped() }
    }

    public func record(flops count: Int) { flops += count }
    public func record(activation count: Int) { largestActivation = max(largestActivation, count) }
}
