/// Widening of the floating-point storage types to `Float`.
///
/// The safetensors spec stores every element little-endian, and offsets are not required to be
/// aligned to the element size, so elements are read with unaligned loads and byte-swapped on
/// big-endian hosts.
enum FloatConversion {
    static func floats(from raw: UnsafeRawBufferPointer, dtype: DType) -> [Float] {
        let count = raw.count / dtype.byteSize
        return [Float](unsafeUninitializedCapacity: count) { output, initialized in
            switch dtype {
            case .F32:
                #if _endian(little)
                UnsafeMutableRawBufferPointer(output).copyMemory(from: raw)
                #else
                for i in 0..<count {
                    output[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                }
                #endif
            case .F16:
                for i in 0..<count {
                    output[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                }
            case .BF16:
                // bfloat16 is the upper half of an IEEE binary32, so widening is a shift.
                for i in 0..<count {
                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                    output[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            case .F64:
                for i in 0..<count {
                    output[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
                }
            default:
                preconditionFailure("FloatConversion called for \(dtype)")
            }
            initialized = count
        }
    }

    /// IEEE binary16 to binary32. Every half value (subnormals, infinities, NaN payloads) is
    /// representable as a Float, so this is exact.
    @inline(__always)
    static func halfToFloat(_ bits: UInt16) -> Float {
        #if !(os(macOS) && arch(x86_64))
        return Float(Float16(bitPattern: bits))
        #else
        // Float16 is unavailable on Intel Macs; decode the fields by hand there.
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        switch exponent {
        case 0:
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        }
        #endif
    }
}
