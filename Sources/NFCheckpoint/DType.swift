/// The element types a safetensors header may name, spelled exactly as the format spells them.
///
/// The raw values are the strings of the safetensors `dtype` field, so a header entry maps onto a case
/// with `DType(rawValue:)` and nothing else. The list is deliberately the classic set of the format:
/// the newer 8-bit float and unsigned 16/32/64-bit types never occur in timm CNN checkpoints, and a
/// header that uses one is rejected by name (``CheckpointError/unknownDType(file:tensor:dtype:)``)
/// rather than being misread.
public enum DType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    /// Bytes per element. The safetensors spec stores tensors packed, without strides or padding, so an
    /// entry's byte length must be exactly `product(shape) * byteSize`.
    public var byteSize: Int {
        switch self {
        case .F64, .I64: 8
        case .F32, .I32: 4
        case .F16, .BF16, .I16: 2
        case .I8, .U8, .BOOL: 1
        }
    }

    /// Whether ``SafeTensorsFile/floats(_:)`` can convert this type to `Float` without changing its meaning.
    public var isFloatingPoint: Bool {
        switch self {
        case .F64, .F32, .F16, .BF16: true
        default: false
        }
    }

    /// The known dtype names, for error messages that tell the user what would have been accepted.
    static var knownNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
