/// A validated safetensors file whose tensors can be read by name.
///
/// The header is checked completely in `init` (see `SafeTensorsHeader`), so that every later read is
/// a bounds-safe slice and a broken checkpoint fails when the model is loaded, with a message naming
/// the file and tensor, instead of partway through serving. The object is immutable and `Sendable`:
/// one instance can feed weight loading on several tasks at once.
///
/// A file mapped from disk must not be truncated or rewritten in place while the object lives;
/// as with any `mmap`, reading pages that no longer exist raises `SIGBUS`. Writers that replace
/// checkpoints by renaming a new file over the old one are safe.
public final class SafeTensorsFile: Sendable {
    /// The path or name given at init; every error message starts with it.
    public let name: String
    /// Tensor names, sorted.
    public let names: [String]
    /// The optional `__metadata__` map (PyTorch writers put `{"format": "pt"}` there).
    public let metadata: [String: String]
    /// Size of the JSON header (the 8-byte prefix's value).
    public let headerLength: Int
    /// Offset of the data section in the file: `8 + headerLength`.
    public let dataOffset: Int
    /// Size of the data section.
    public let dataLength: Int

    private let tensors: [String: TensorInfo]
    private let storage: FileBytes

    /// Memory-maps the file at `path` (read-only, private) and validates its header.
    public convenience init(path: String) throws {
        let storage = try FileBytes(mapping: path)
        try self.init(storage: storage, name: path)
    }

    /// Validates an in-memory safetensors image; `name` stands in for the file name in errors.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        // The 8-byte check comes first so that a tiny buffer fails the same way a tiny file does.
        guard bytes.count >= 8 else { throw CheckpointError.truncated(file: name, size: bytes.count) }
        try self.init(storage: FileBytes(copying: bytes), name: name)
    }

    private init(storage: FileBytes, name: String) throws(CheckpointError) {
        let header = try SafeTensorsHeader(bytes: storage.buffer, file: name)
        self.storage = storage
        self.name = name
        self.tensors = header.tensors
        self.names = header.tensors.keys.sorted()
        self.metadata = header.metadata
        self.headerLength = header.headerLength
        self.dataOffset = header.dataOffset
        self.dataLength = header.dataLength
    }

    /// The tensor's declaration, or `nil` when the file has no tensor of that name.
    public func info(_ name: String) -> TensorInfo? {
        tensors[name]
    }

    /// All tensors, sorted by name.
    public var tensorInfos: [TensorInfo] {
        names.map { tensors[$0]! }
    }

    /// Calls `body` with the tensor's raw little-endian bytes inside the mapping, without copying.
    /// The pointer must not escape `body`: it is only valid while this object is alive.
    public func withUnsafeBytes<Result>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        guard let info = tensors[name] else { throw CheckpointError.tensorNotFound(file: self.name, tensor: name) }
        return try withExtendedLifetime(storage) {
            let data = UnsafeRawBufferPointer(rebasing: storage.buffer[dataOffset...])
            return try body(UnsafeRawBufferPointer(rebasing: data[info.dataRange]))
        }
    }

    /// A copy of the tensor's raw little-endian bytes.
    public func bytes(_ name: String) throws -> [UInt8] {
        try withUnsafeBytes(of: name) { Array($0) }
    }

    /// The tensor's elements converted to `Float`, in row-major order.
    ///
    /// Only the tensor's own bytes are read. F16 and BF16 widen exactly; F64 rounds to nearest.
    /// Integer and boolean tensors (e.g. BatchNorm's I64 `num_batches_tracked`) throw
    /// ``CheckpointError/unsupportedDType(file:tensor:dtype:)`` rather than being silently cast.
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw CheckpointError.tensorNotFound(file: self.name, tensor: name) }
        guard info.dtype.isFloatingPoint else {
            throw CheckpointError.unsupportedDType(file: self.name, tensor: name, dtype: info.dtype)
        }
        return try withUnsafeBytes(of: name) { raw in
            FloatConversion.floats(from: raw, dtype: info.dtype)
        }
    }
}
