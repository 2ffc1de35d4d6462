import CNFDNNL
import Synchronization

/// An activation inside an execution plan, in oneDNN's blocked nChw16c or nChw8c layout (channels
/// in blocks of 16 on AVX-512, of 8 elsewhere, the last block zero-padded), where its JIT kernels
/// run with no reorder between steps. The shim decides the layout (`nf_dnnl.h`); Swift only moves whole buffers between
/// steps and converts at the plan's ends (`init(_:)`, `plain()`).
///
/// A reference type that owns its buffer: a plan's steps write into buffers they were given
/// (in place where the layer allows), so a value must not be shared once a step may write it.
public final class BlockedTensor: @unchecked Sendable {
    public let n: Int, c: Int, h: Int, w: Int
    /// Blocked in FP32 and bf16 plans; channels-last in int8 plans (`PlanLayout`).
    public let layout: PlanLayout
    /// FP32 values, but where a convolution wrote its output for the next convolution, the only
    /// step that reads it (`PlanElement`).
    public let element: PlanElement
    let pointer: UnsafeMutablePointer<Float>
    /// Floats the buffer holds (as many as FP32 values would need, whatever `element` is).
    let count: Int
    /// The tensor whose buffer this one reads as another element (`init(viewing:as:)`); nil where
    /// this one owns its buffer.
    private let base: BlockedTensor?

    /// An uninitialized buffer of this shape (every step writes all of its output).
    public init(n: Int, c: Int, h: Int, w: Int, layout: PlanLayout = .blocked, element: PlanElement = .f32) {
        self.n = n
        self.c = c
        self.h = h
        self.w = w
        self.layout = layout
        self.element = element
        count = Int(nf_blocked_count(layout.rawValue, Int64(n), Int64(c), Int64(h), Int64(w)))
        pointer = BufferPool.shared.take(max(count, 1))
        base = nil
    }

    /// `other`'s buffer, read as `element` from now on: where a step overwrote it with values of
    /// another quantization step (an int8 residual sum written in place). `other` must not be
    /// read again.
    init(viewing other: BlockedTensor, as element: PlanElement) {
        n = other.n
        c = other.c
        h = other.h
        w = other.w
        layout = other.layout
        self.element = element
        pointer = other.pointer
        count = other.count
        base = other.base ?? other
    }

    deinit { if base == nil { BufferPool.shared.give(pointer, count: max(count, 1)) } }

    public var shape: [Int] { [n, c, h, w] }

    /// A plain NCHW tensor in a plan's layout.
    public convenience init(_ tensor: Tensor, layout: PlanLayout = .blocked) throws {
        let (n, c, h, w) = tensor.nchw
        self.init(n: n, c: c, h: h, w: w, layout: layout)
        let op = try BlockedReorders.shared.operation(layout: layout, n: n, c: c, h: h, w: w, toBlocked: true)
        try tensor.storage.withUnsafeBufferPointer { src in try op.execute(src.baseAddress!, nil, pointer) }
    }

    /// The same values as a plain NCHW tensor.
    public func plain() throws -> Tensor {
        guard element == .f32 else { throw TensorError("a plan activation in \(element) is read by its convolution only") }
        let op = try BlockedReorders.shared.operation(layout: layout, n: n, c: c, h: h, w: w, toBlocked: false)
        return try Tensor(shape: shape) { dst in try op.execute(pointer, nil, dst.baseAddress!) }
    }
}

extension BlockedTensor {
    /// Per channel, over N, H and W: the values counted, their mean and the sum of squared
    /// deviations from it, in Double, read in place (`nf_blocked_moments`). What a diagnostic's
    /// moments accumulator merges (`ChannelMoments.add(_:)` for a plain tensor).
    public func channelMoments() -> (count: Int, mean: [Double], m2: [Double]) {
        precondition(element == .f32, "a plan activation in \(element) is read by its convolution only")
        var mean = [Double](repeating: 0, count: c), m2 = [Double](repeating: 0, count: c)
        guard n * h * w > 0 else { return (0, mean, m2) }
        mean.withUnsafeMutableBufferPointer { mean in
            m2.withUnsafeMutableBufferPointer { m2 in
                nf_blocked_moments(layout.rawValue, pointer, Int64(n), Int64(c), Int64(h), Int64(w), mean.baseAddress, m2.baseAddress)
            }
        }
        return (n * h * w, mean, m2)
    }
}

/// How a plan holds its activations between steps: oneDNN's blocked layout (FP32 plans, where
/// its direct and Winograd kernels run), or channels-last (int8 plans: on AVX2, oneDNN 2.6's int8
/// convolutions have JIT kernels for nhwc only, and reference ones, 200-300x slower, for
/// blocked sources or mixed layouts). One layout for a whole plan: no reorders between steps.
public enum PlanLayout: Int32, Sendable, Hashable {
    case blocked = 0
    case channelsLast = 1
}

/// What a plan activation's buffer holds. FP32 between steps; but a convolution whose output
/// only the next convolution reads may write it in that convolution's input format, which
/// then skips its own conversion: u8 or s8 values `round(x / scale)` between int8 convolutions,
/// bf16 between bf16 ones. An int8 ResNet also keeps its residual stream so: a block's input,
/// quantized once, is read by its first convolution and added by its last, which writes the
/// block's output quantized for the next block (`ResNetPlan`). Every other step reads and writes
/// FP32.
public enum PlanElement: Sendable, Hashable, CustomStringConvertible {
    case f32
    case bf16
    case u8(scale: Float)
    case s8(scale: Float)

    var sourceType: nf_source_type {
        switch self {
        case .f32: NF_SOURCE_F32
        case .bf16: NF_SOURCE_BF16
        case .u8: NF_SOURCE_U8
        case .s8: NF_SOURCE_S8
        }
    }

    /// The quantization step (1 where there is none).
    var scale: Float {
        switch self {
        case .f32, .bf16: 1
        case let .u8(scale), let .s8(scale): scale
        }
    }

    public var description: String {
        switch self {
        case .f32: "f32"
        case .bf16: "bf16"
        case let .u8(scale): "u8 (step \(scale))"
        case let .s8(scale): "s8 (step \(scale))"
        }
    }
}

/// The reorders at a plan's ends, one per shape and direction, shared by every plan.
final class BlockedReorders: Sendable {
    static let shared = BlockedReorders()
    private struct Key: Hashable, Sendable { var layout: PlanLayout, n: Int, c: Int, h: Int, w: Int, toBlocked: Bool }
    private let cache = PrimitiveCache<Key, DNNLOperation>(capacity: 1024)

    func operation(layout: PlanLayout, n: Int, c: Int, h: Int, w: Int, toBlocked: Bool) throws -> DNNLOperation {
        try cache.value(for: Key(layout: layout, n: n, c: c, h: h, w: w, toBlocked: toBlocked)) {
            try DNNLOperation("reorder \([n, c, h, w])") { err, len in
                nf_dnnl_reorder_create(layout.rawValue, Int64(n), Int64(c), Int64(h), Int64(w), toBlocked ? 1 : 0, err, len)
            }
        }
    }
}

/// One oneDNN operation of a plan other than a convolution (pooling, activation, BatchNorm, add,
/// reorder) for one shape. Immutable; executing it is thread-safe.
final class DNNLOperation: @unchecked Sendable {
    private let handle: OpaquePointer
    private let what: String

    init(_ what: String, make: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws {
        let (made, message) = withDNNLErrorBuffer(make)
        guard let made else { throw TensorError("\(what): \(message)") }
        handle = made
        self.what = what
    }

    deinit { nf_dnnl_op_destroy(handle) }

    func execute(_ src0: UnsafeRawPointer, _ src1: UnsafeRawPointer?, _ dst: UnsafeMutableRawPointer) throws {
        let (rc, message) = withDNNLErrorBuffer { err, len in nf_dnnl_op_execute(handle, src0, src1, dst, err, len) }
        if rc != 0 { throw TensorError("\(what): \(message)") }
    }
}

/// Runs `body(i)` for `i` in `0..<count` on oneDNN's OpenMP threads (see `nf_parallel_for`).
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        var job = body
        withUnsafeMutablePointer(to: &job) { pointer in
            nf_parallel_for(
                Int64(count),
                { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
                }, pointer)
        }
    }
}

/// The OpenMP threads oneDNN uses for work started on the calling thread; 0 means every core.
public func setComputeThreads(_ threads: Int) { nf_set_threads(Int32(threads)) }
/// The cores OpenMP uses by default.
public var availableComputeThreads: Int { Int(nf_max_threads()) }

/// Activation buffers handed back by finished steps, kept for the next step or pass: a plan then
/// reuses memory that is already mapped instead of faulting fresh pages in for every step (they
/// showed as a few percent of a forward pass in the kernel). Sizes are rounded up to a power of
/// two, so that passes of different batch sizes share buffers; beyond `maxBytes` cached, buffers
/// are freed (256 MB: a batch of 8 resnet50 images at 224 px needs buffers of 32 MB, and with a
/// 64 MB cap its passes were 10% slower, faulting them in again).
public final class BufferPool: Sendable {
    public static let shared = BufferPool(maxBytes: 256 << 20)

    private struct Buffer: @unchecked Sendable { let pointer: UnsafeMutablePointer<Float> }
    private struct State {
        var free: [Int: [Buffer]] = [:]
        var bytes = 0
    }
    private let state = Mutex(State())
    private let limit: Atomic<Int>

    init(maxBytes: Int) { limit = Atomic(maxBytes) }

    /// The most bytes kept cached (the server sizes it from its memory limit).
    public var maxBytes: Int {
        get { limit.load(ordering: .relaxed) }
        set { limit.store(newValue, ordering: .relaxed) }
    }

    /// Bytes cached now.
    public var cachedBytes: Int { state.withLock { $0.bytes } }

    /// Frees every cached buffer (after a large job, so that its memory goes back to the system).
    public func releaseCached() {
        let buffers = state.withLock { state -> [Buffer] in
            let all = state.free.values.flatMap { $0 }
            state.free = [:]
            state.bytes = 0
            return all
        }
        for buffer in buffers { buffer.pointer.deallocate() }
    }

    func take(_ requested: Int) -> UnsafeMutablePointer<Float> {
        let count = Self.bucket(requested)
        if let reused = state.withLock({ state -> Buffer? in
            guard let buffer = state.free[count]?.popLast() else { return nil }
            state.bytes -= count * MemoryLayout<Float>.stride
            return buffer
        }) {
            return reused.pointer
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    func give(_ pointer: UnsafeMutablePointer<Float>, count requested: Int) {
        let count = Self.bucket(requested)
        let bytes = count * MemoryLayout<Float>.stride
        let kept = state.withLock { state in
            guard state.bytes + bytes <= limit.load(ordering: .relaxed) else { return false }
            state.free[count, default: []].append(Buffer(pointer: pointer))
            state.bytes += bytes
            return true
        }
        if !kept { pointer.deallocate() }
    }

    /// The power of two at or above `count` (at least 1024 floats).
    static func bucket(_ count: Int) -> Int { max(1024, 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount)) }
}
