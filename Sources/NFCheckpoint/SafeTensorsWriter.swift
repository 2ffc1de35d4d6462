/// Builds safetensors images in memory.
///
/// `nfserve recalibrate` writes checkpoints with it; tests produce files that are valid by
/// construction (round trips) and, through ``frame(header:data:)``, files that break exactly one rule.
public enum SafeTensorsWriter {
    /// Lays the tensors out back to back in the given order, with `data_offsets` taken from the
    /// byte counts, and `__metadata__` first when `metadata` is not empty.
    ///
    /// The header is padded with spaces to a multiple of 8 bytes, as the reference writer does
    /// (the spec allows trailing 0x20 padding), so that the data section starts 8-byte aligned.
    /// `bytes` are written as given and not checked against `shape` and `dtype`: a mismatch yields
    /// a file that readers must reject, which is what the error tests want.
    public static func encode(
        _ tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])],
        metadata: [String: String] = [:]
    ) -> [UInt8] {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(JSONValue.quote($0)):\(JSONValue.quote(metadata[$0]!))" }
            members.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.bytes.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            members.append(
                "\(JSONValue.quote(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = "{" + members.joined(separator: ",") + "}"
        let remainder = header.utf8.count % 8
        if remainder != 0 { header += String(repeating: " ", count: 8 - remainder) }
        return frame(header: header, data: tensors.flatMap(\.bytes))
    }

    /// The raw container: the 8-byte little-endian length of `header`, `header` as UTF-8, then `data`.
    /// Nothing is checked, so tests can hand-write headers that are wrong in one specific way.
    public static func frame(header: String, data: [UInt8]) -> [UInt8] {
        frame(header: Array(header.utf8), data: data)
    }

    /// Like the `String` overload of `frame(header:data:)`, for header bytes that need not be UTF-8.
    public static func frame(header: [UInt8], data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + data.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        out.append(contentsOf: data)
        return out
    }
}
