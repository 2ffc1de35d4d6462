/// One tensor as the safetensors header declares it, after validation.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    /// Dimensions outermost first, row-major (PyTorch's order); `[]` is a scalar.
    public let shape: [Int]
    /// The tensor's bytes, relative to the start of the data section (the spec's `data_offsets`),
    /// not to the start of the file: the header length in front of it is not known to the writer
    /// when it lays out the data.
    public let dataRange: Range<Int>

    /// `product(shape)`; `1` for a scalar, `0` when a dimension is `0`.
    public var elementCount: Int { shape.reduce(1, *) }

    public init(name: String, dtype: DType, shape: [Int], dataRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataRange = dataRange
    }
}
