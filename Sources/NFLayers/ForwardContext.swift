import NFTensors

/// A point in the forward pass where a model shows an activation to its observer.
///
/// Models report these and nothing else; they do not know which diagnostic listens. The
/// signal-propagation plot reads `.stemOutput`, `.blockOutput` and `.residualBranch`;
/// the BatchNorm estimation shift reads `.normalizationInput`.
public enum ObservationSite: Sendable, Hashable {
    /// The stem's output (after its max-pool where it has one): SPP point 0.
    case stemOutput
    /// Residual block `index` (0-based over the whole network): skip + branch, before any
    /// activation that follows the addition. `name` is the block's key prefix ("layer1.0").
    case blockOutput(index: Int, name: String)
    /// The residual branch of block `index` just before it joins the skip path.
    case residualBranch(index: Int, name: String)
    /// The input of the normalization layer whose key prefix is `name` ("layer1.0.bn1").
    case normalizationInput(name: String)
}

/// Receives activations during a forward pass. Called synchronously on the computing thread;
/// the tensor is a value, so an observer may keep it, but cheap statistics are kinder to memory.
public protocol ForwardObserver: AnyObject {
    func observe(_ site: ObservationSite, _ activation: Tensor)
}

/// Per-call state of one forward pass: the optional observer and a FLOP counter.
/// Made fresh for each call, never shared between threads.
public final class ForwardContext {
    public let observer: (any ForwardObserver)?
    /// Floating-point operations of the convolutions and linear layers run so far (2 per MAC).
    public private(set) var flops: Int = 0

    public init(observer: (any ForwardObserver)? = nil) {
        self.observer = observer
    }

    @inline(__always)
    public func observe(_ site: @autoclosure () -> ObservationSite, _ activation: Tensor) {
        if let observer { observer.observe(site(), activation) }
    }

    public func record(flops count: Int) { flops += count }
}
