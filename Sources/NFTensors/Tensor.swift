/// A dense float32 tensor in row-major order.
///
/// Activations are NCHW and convolution weights OIHW, as in the checkpoints; a kernel that
/// wants another layout converts in one place (see `DNNLConvolution`). Storage is a Swift
/// array, so a `Tensor` is a value (copy-on-write) and `Sendable`.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    /// A tensor of `shape` holding `storage` (row-major); the counts must agree.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(
            shape.reduce(1, *) == storage.count,
            "shape \(shape) holds \(shape.reduce(1, *)) values, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, storage: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of `shape` whose storage is written by `initializer` (which must fill all of it).
    public init(shape: [Int], unsafeUninitialized initializer: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        let storage = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try initializer(buffer)
            initialized = count
        }
        self.init(shape: shape, storage: storage)
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The same values viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    public subscript(index: Int) -> Float {
        get { storage[index] }
        set { storage[index] = newValue }
    }
}

extension Tensor {
    /// Dimensions of an NCHW activation.
    public var nchw: (n: Int, c: Int, h: Int, w: Int) {
        precondition(rank == 4, "expected an NCHW tensor, got shape \(shape)")
        return (shape[0], shape[1], shape[2], shape[3])
    }

    /// Largest absolute difference to `other` (same shape required).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var worst: Float = 0
        for i in 0..<count { worst = Swift.max(worst, abs(storage[i] - other.storage[i])) }
        return worst
    }

    /// Largest absolute value: 0 when empty, NaN when an element is NaN. Compared as bit
    /// patterns with the sign cleared, whose order is the magnitudes' order (NaN's above
    /// infinity's): an integer maximum the compiler vectorises, where `Swift.max` over floats
    /// does not. The server checks every batch's input before its pass: for resnet50's batch of
    /// 8 that took 1.4 ms, on the compute thread, and takes 0.2.
    public var maxAbs: Float {
        storage.withUnsafeBufferPointer { buffer in
            var largest: UInt32 = 0
            for x in buffer { largest = Swift.max(largest, x.bitPattern & 0x7fff_ffff) }
            return Float(bitPattern: largest)
        }
    }
}
