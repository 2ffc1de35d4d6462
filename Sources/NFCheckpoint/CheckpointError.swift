/// Everything that can be wrong with a checkpoint folder's `model.safetensors` or `config.json`.
///
/// Each case carries the file (as the caller named it), the tensor where there is one, and the
/// numbers involved, because the person reading the message usually cannot open a debugger on a
/// multi-hundred-megabyte file: the description alone has to say what to fix. Cases are distinct per
/// rule of the safetensors spec so that tests (and callers) can tell the failures apart.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, inspected or mapped; `reason` is the operating system's message.
    case cannotOpen(file: String, reason: String)
    /// The file is shorter than the 8-byte header-length prefix every safetensors file starts with.
    case truncated(file: String, size: Int)
    /// The header length exceeds the 100 MB bound the reference implementation enforces
    /// (`MAX_HEADER_SIZE`), which protects against allocating for a corrupt length.
    case headerTooLarge(file: String, headerLength: UInt64, limit: Int)
    /// The header length points past the end of the file, i.e. the file was cut short.
    case headerPastEnd(file: String, headerLength: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8 (the spec requires a UTF-8 JSON string).
    case headerNotUTF8(file: String, byteOffset: Int)
    /// The header is not well-formed JSON; `reason` says what and where.
    case invalidHeaderJSON(file: String, reason: String)
    /// The header is not a JSON object (the spec requires it to start with `{`).
    case headerNotObject(file: String, found: String)
    /// The same tensor name appears twice in the header. The spec forbids duplicate keys because JSON
    /// parsers disagree on which one wins, so two readers could see different tensors.
    case duplicateTensor(file: String, tensor: String)
    /// A header entry lacks `dtype`, `shape` or `data_offsets`, or has one of the wrong JSON type.
    case invalidEntry(file: String, tensor: String, reason: String)
    /// The optional `__metadata__` entry is not a map from strings to strings.
    case invalidMetadata(file: String, reason: String)
    /// The `dtype` string is not one of ``DType``'s names.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// A dimension of `shape` is negative.
    case negativeDimension(file: String, tensor: String, shape: [Int])
    /// `data_offsets` has `begin > end`.
    case reversedOffsets(file: String, tensor: String, begin: Int, end: Int)
    /// `product(shape) * dtype size` does not fit in an `Int`, so no file could hold the tensor.
    case shapeTooLarge(file: String, tensor: String, shape: [Int], dtype: DType)
    /// The byte length `end - begin` differs from `product(shape) * dtype size` (`expected`).
    case sizeMismatch(file: String, tensor: String, begin: Int, end: Int, shape: [Int], dtype: DType, expected: Int)
    /// `data_offsets` reach past the end of the data section.
    case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataLength: Int)
    /// Two tensors claim some of the same bytes.
    case overlappingTensors(file: String, first: String, firstRange: Range<Int>, second: String, secondRange: Range<Int>)
    /// Bytes of the data section between two tensors (or before the first one, `before == nil`)
    /// belong to no tensor; the spec requires the data section to be fully indexed, without holes.
    case gapBetweenTensors(file: String, before: String?, after: String, gap: Range<Int>)
    /// The data section continues after the last tensor (`last == nil` when there are no tensors).
    case trailingBytes(file: String, last: String?, used: Int, dataLength: Int)
    /// No tensor of that name is in the file.
    case tensorNotFound(file: String, tensor: String)
    /// The tensor's dtype cannot be converted by the requested accessor (e.g. `floats` of an I64).
    case unsupportedDType(file: String, tensor: String, dtype: DType)
    /// `config.json` is not valid JSON, lacks a required field or holds a field of the wrong type.
    case invalidConfig(file: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot open: \(reason)"
        case let .truncated(file, size):
            return "\(file): file is truncated: \(size) bytes, shorter than the 8-byte header length that starts every safetensors file"
        case let .headerTooLarge(file, length, limit):
            return "\(file): header length \(length) bytes exceeds the \(limit)-byte limit; the file is corrupt or not a safetensors file"
        case let .headerPastEnd(file, length, size):
            return "\(file): file is truncated: header length \(length) bytes runs past the end of the \(size)-byte file (8 + \(length) > \(size))"
        case let .headerNotUTF8(file, offset):
            return "\(file): header is not valid UTF-8 (bad byte sequence at header byte \(offset))"
        case let .invalidHeaderJSON(file, reason):
            return "\(file): header is not valid JSON: \(reason)"
        case let .headerNotObject(file, found):
            return "\(file): header must be a JSON object starting with '{', found \(found)"
        case let .duplicateTensor(file, tensor):
            return "\(file): tensor \(quoted(tensor)) appears more than once in the header; safetensors forbids duplicate names"
        case let .invalidEntry(file, tensor, reason):
            return "\(file): tensor \(quoted(tensor)): \(reason)"
        case let .invalidMetadata(file, reason):
            return "\(file): \"__metadata__\" \(reason)"
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor \(quoted(tensor)): unknown dtype \(quoted(dtype)); known dtypes are \(DType.knownNames)"
        case let .negativeDimension(file, tensor, shape):
            return "\(file): tensor \(quoted(tensor)): shape \(shape) has a negative dimension"
        case let .reversedOffsets(file, tensor, begin, end):
            return "\(file): tensor \(quoted(tensor)): data_offsets [\(begin), \(end)) begin after they end"
        case let .shapeTooLarge(file, tensor, shape, dtype):
            return "\(file): tensor \(quoted(tensor)): shape \(shape) of \(dtype.rawValue) is too large to address (its byte size overflows)"
        case let .sizeMismatch(file, tensor, begin, end, shape, dtype, expected):
            return
                "\(file): tensor \(quoted(tensor)): data_offsets [\(begin), \(end)) hold \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(expected)"
        case let .offsetsOutOfRange(file, tensor, begin, end, dataLength):
            return "\(file): tensor \(quoted(tensor)): data_offsets [\(begin), \(end)) lie outside the \(dataLength)-byte data section"
        case let .overlappingTensors(file, first, firstRange, second, secondRange):
            return
                "\(file): tensors \(quoted(first)) [\(firstRange.lowerBound), \(firstRange.upperBound)) and \(quoted(second)) [\(secondRange.lowerBound), \(secondRange.upperBound)) overlap"
        case let .gapBetweenTensors(file, before, after, gap):
            let place =
                before.map { "between tensor \(quoted($0)) and tensor \(quoted(after))" }
                ?? "before the first tensor \(quoted(after))"
            return
                "\(file): data section has a gap: bytes [\(gap.lowerBound), \(gap.upperBound)) \(place) belong to no tensor; safetensors requires the tensors to cover the data section without holes"
        case let .trailingBytes(file, last, used, dataLength):
            let place = last.map { "after the last tensor \(quoted($0))" } ?? "but the header lists no tensors"
            return
                "\(file): data section has \(dataLength - used) trailing bytes: tensors cover [0, \(used)) of \(dataLength) bytes; bytes [\(used), \(dataLength)) \(place) belong to no tensor"
        case let .tensorNotFound(file, tensor):
            return "\(file): no tensor named \(quoted(tensor))"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor \(quoted(tensor)): dtype \(dtype.rawValue) cannot be read as floats (only F64, F32, F16 and BF16 can)"
        case let .invalidConfig(file, reason):
            return "\(file): \(reason)"
        }
    }
}

/// A name in double quotes with JSON escaping, so that odd names (spaces, quotes, control
/// characters) stay unambiguous inside a one-line message.
func quoted(_ name: String) -> String { JSONValue.quote(name) }
