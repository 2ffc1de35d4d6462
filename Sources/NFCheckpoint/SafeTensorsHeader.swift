/// The parsed and validated header of a safetensors file.
///
/// The spec (https://github.com/huggingface/safetensors#format) is short, and a reader that trusts it
/// is exposed to every way a file can lie: a corrupt length prefix, offsets past the end, two tensors
/// sharing bytes, bytes shared by no tensor. Everything here is checked once, at open time, so that
/// later reads are plain slices of memory known to be in bounds.
struct SafeTensorsHeader: Sendable {
    /// The reference implementation's `MAX_HEADER_SIZE`: real headers are at most a few MB, so a
    /// larger length means corruption, and refusing it avoids parsing or allocating for garbage.
    static let maxHeaderLength = 100_000_000

    /// The `N` of the 8-byte prefix.
    let headerLength: Int
    /// Size of the data section, i.e. the file after `8 + N`.
    let dataLength: Int
    let tensors: [String: TensorInfo]
    let metadata: [String: String]

    /// Where the data section starts in the file.
    var dataOffset: Int { 8 + headerLength }

    /// Validates the whole file's layout. `file` is only used to name the file in errors.
    init(bytes: UnsafeRawBufferPointer, file: String) throws(CheckpointError) {
        // The spec's first 8 bytes: N, an unsigned little-endian 64-bit integer.
        guard bytes.count >= 8 else { throw .truncated(file: file, size: bytes.count) }
        let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(Self.maxHeaderLength) else {
            throw .headerTooLarge(file: file, headerLength: length, limit: Self.maxHeaderLength)
        }
        guard length <= UInt64(bytes.count - 8) else {
            throw .headerPastEnd(file: file, headerLength: length, fileSize: bytes.count)
        }
        headerLength = Int(length)
        dataLength = bytes.count - 8 - headerLength
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])

        // "N bytes: a JSON UTF-8 string representing the header. [It] MUST begin with a { character."
        if let offset = Self.firstInvalidUTF8(header) {
            throw .headerNotUTF8(file: file, byteOffset: offset)
        }
        guard let first = header.first else {
            throw .headerNotObject(file: file, found: "an empty header (header length 0)")
        }
        guard first == UInt8(ascii: "{") else {
            throw .headerNotObject(file: file, found: Self.describeStart(header))
        }
        let root: JSONValue
        do {
            // "Duplicate keys are disallowed."
            root = try JSONValue.parse(header, rejectDuplicateKeys: true)
        } catch {
            if let (key, depth) = error.duplicateKey, depth == 1 {
                throw .duplicateTensor(file: file, tensor: key)
            }
            throw .invalidHeaderJSON(file: file, reason: error.description)
        }
        guard case var .object(entries) = root else {
            throw .headerNotObject(file: file, found: root.kindDescription)
        }

        metadata = try Self.parseMetadata(entries.removeValue(forKey: "__metadata__"), file: file)

        var tensors: [String: TensorInfo] = [:]
        tensors.reserveCapacity(entries.count)
        // Sorted so that a file with several problems always reports the same one first.
        for name in entries.keys.sorted() {
            tensors[name] = try Self.parseEntry(name: name, value: entries[name]!, dataLength: dataLength, file: file)
        }
        try Self.checkTiling(tensors.values, dataLength: dataLength, file: file)
        self.tensors = tensors
    }

    // MARK: Entries

    /// One `{"dtype", "shape", "data_offsets"}` entry. Extra keys are ignored, as the reference
    /// implementation's serde struct ignores them.
    private static func parseEntry(name: String, value: JSONValue, dataLength: Int, file: String) throws(CheckpointError) -> TensorInfo {
        guard case let .object(fields) = value else {
            throw .invalidEntry(
                file: file, tensor: name,
                reason: "entry must be an object with \"dtype\", \"shape\" and \"data_offsets\", got \(value.kindDescription)")
        }
        func field(_ key: String) throws(CheckpointError) -> JSONValue {
            guard let value = fields[key], value != .null else {
                throw .invalidEntry(file: file, tensor: name, reason: "missing \"\(key)\"")
            }
            return value
        }

        let dtypeValue = try field("dtype")
        guard let dtypeName = dtypeValue.stringValue else {
            throw .invalidEntry(file: file, tensor: name, reason: "\"dtype\" must be a string, got \(dtypeValue.kindDescription)")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .unknownDType(file: file, tensor: name, dtype: dtypeName)
        }

        let shapeValue = try field("shape")
        guard let shape = shapeValue.intArray else {
            throw .invalidEntry(file: file, tensor: name, reason: "\"shape\" must be an array of integers, got \(shapeValue.kindDescription)")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw .negativeDimension(file: file, tensor: name, shape: shape)
        }

        let offsetsValue = try field("data_offsets")
        guard let offsets = offsetsValue.intArray, offsets.count == 2, offsets[0] >= 0, offsets[1] >= 0 else {
            throw .invalidEntry(
                file: file, tensor: name,
                reason: "\"data_offsets\" must be two non-negative integers [begin, end], got \(offsetsValue.kindDescription)")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else {
            throw .reversedOffsets(file: file, tensor: name, begin: begin, end: end)
        }

        // Tensors are stored packed, so the byte length is fully determined by shape and dtype.
        // Multiplications are checked: a crafted shape must not trap the process.
        var needed = dtype.byteSize
        for dimension in shape {
            let (product, overflow) = needed.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .shapeTooLarge(file: file, tensor: name, shape: shape, dtype: dtype) }
            needed = product
        }
        guard end - begin == needed else {
            throw .sizeMismatch(file: file, tensor: name, begin: begin, end: end, shape: shape, dtype: dtype, expected: needed)
        }
        guard end <= dataLength else {
            throw .offsetsOutOfRange(file: file, tensor: name, begin: begin, end: end, dataLength: dataLength)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    /// "The byte buffer needs to be entirely indexed, and cannot contain holes. This prevents the
    /// creation of polyglot files." Sorted by offset, the ranges must therefore tile
    /// `[0, dataLength)` exactly: each one begins where the previous ended.
    private static func checkTiling(_ tensors: some Collection<TensorInfo>, dataLength: Int, file: String) throws(CheckpointError) {
        let ordered = tensors.sorted {
            ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name)
        }
        var cursor = 0
        var previous: TensorInfo?
        for tensor in ordered {
            let range = tensor.dataRange
            if range.lowerBound < cursor, let previous {
                throw .overlappingTensors(
                    file: file, first: previous.name, firstRange: previous.dataRange,
                    second: tensor.name, secondRange: range)
            }
            if range.lowerBound > cursor {
                throw .gapBetweenTensors(file: file, before: previous?.name, after: tensor.name, gap: cursor..<range.lowerBound)
            }
            cursor = range.upperBound
            previous = tensor
        }
        if cursor != dataLength {
            throw .trailingBytes(file: file, last: previous?.name, used: cursor, dataLength: dataLength)
        }
    }

    // MARK: Metadata

    /// "The special key `__metadata__` is allowed to contain free form string-to-string map."
    private static func parseMetadata(_ value: JSONValue?, file: String) throws(CheckpointError) -> [String: String] {
        guard let value, value != .null else { return [:] }
        guard case let .object(members) = value else {
            throw .invalidMetadata(file: file, reason: "must be an object of strings, got \(value.kindDescription)")
        }
        var metadata: [String: String] = [:]
        for (key, member) in members {
            guard let text = member.stringValue else {
                throw .invalidMetadata(file: file, reason: "value for \(quoted(key)) must be a string, got \(member.kindDescription)")
            }
            metadata[key] = text
        }
        return metadata
    }

    // MARK: Helpers

    /// The offset of the first byte that does not belong to a valid UTF-8 sequence, or `nil`.
    private static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case let .valid(encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    private static func describeStart(_ header: UnsafeRawBufferPointer) -> String {
        let prefix = String(decoding: UnsafeRawBufferPointer(rebasing: header.prefix(16)), as: UTF8.self)
        return quoted(prefix) + (header.count > 16 ? "..." : "")
    }
}
