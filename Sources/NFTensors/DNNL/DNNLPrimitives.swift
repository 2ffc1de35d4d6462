import CNFDNNL

/// Calls a oneDNN shim function that reports failure through an error buffer.
func withDNNLErrorBuffer<R>(_ body: (UnsafeMutablePointer<CChar>, Int) -> R) -> (R, String) {
    var buffer = [CChar](repeating: 0, count: 512)
    let result = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return (result, message)
}

/// One oneDNN convolution primitive for one input shape, with its weights already reordered
/// into the blocked layout oneDNN chose. Immutable once made; executing it is thread-safe
/// (each thread executes with its own stream and scratchpad).
final class DNNLConvolution: @unchecked Sendable {
    private let handle: OpaquePointer
    let outputHeight: Int
    let outputWidth: Int
    /// The primitive whose reordered weights this one uses (kept alive while it does).
    private var weightDonor: DNNLConvolution?

    /// Where the activations live: plain NCHW on both sides (reordered per call inside the shim),
    /// or a plan's blocked layout (the first convolution of a plan reads the plain input).
    enum Layout: Int32, Hashable, Sendable {
        case plain = 0, plainToBlocked = 1, blocked = 2, channelsLast = 3
    }

    init(
        input: (n: Int, h: Int, w: Int), geometry g: ConvolutionGeometry, weight: [Float], bias: [Float]?,
        fusedSumScale: Float, postActivation: Activation, layout: Layout = .plain, activation: Activation = .identity,
        activationScale: Float = 1, int8: (weight: [Int8], outputScales: [Float], signedSource: Bool)? = nil,
        bf16: Bool = false, output: PlanElement = .f32
    ) throws {
        let p = g.resolvedPadding(height: input.h, width: input.w)
        var params = nf_conv_params(
            n: Int64(input.n), ic: Int64(g.inChannels), ih: Int64(input.h), iw: Int64(input.w),
            oc: Int64(g.outChannels), kh: Int64(g.kernel.h), kw: Int64(g.kernel.w), groups: Int64(g.groups),
            stride_h: Int64(g.stride.h), stride_w: Int64(g.stride.w),
            dilation_h: Int64(g.dilation.h), dilation_w: Int64(g.dilation.w),
            pad_top: Int64(p.top), pad_left: Int64(p.left), pad_bottom: Int64(p.bottom), pad_right: Int64(p.right),
            sum_scale: fusedSumScale, post_activation: postActivation.dnnlCode, layout: layout.rawValue,
            activation: activation.dnnlCode, activation_scale: activationScale,
            source_type: Int32(
                bf16
                    ? NF_SOURCE_BF16.rawValue
                    : int8 == nil ? NF_SOURCE_F32.rawValue : int8!.signedSource ? NF_SOURCE_S8.rawValue : NF_SOURCE_U8.rawValue),
            destination_type: Int32(output.sourceType.rawValue), destination_scale: output.scale)
        let (made, message) = withDNNLErrorBuffer { err, len in
            if let int8 {
                return int8.weight.withUnsafeBufferPointer { w in
                    int8.outputScales.withUnsafeBufferPointer { scales in
                        bias.withOptionalBufferPointer { b in
                            nf_dnnl_conv_create_int8(&params, w.baseAddress, b, scales.baseAddress, err, len)
                        }
                    }
                }
            }
            return weight.withUnsafeBufferPointer { w in
                if let bias {
                    return bias.withUnsafeBufferPointer { b in
                        nf_dnnl_conv_create(&params, w.baseAddress, b.baseAddress, err, len)
                    }
                }
                return nf_dnnl_conv_create(&params, w.baseAddress, nil, err, len)
            }
        }
        guard let made else { throw TensorError("convolution \(g.weightShape) on input \(input): \(message)") }
        handle = made
        var oh: Int64 = 0, ow: Int64 = 0
        nf_dnnl_conv_output_size(handle, &oh, &ow)
        outputHeight = Int(oh)
        outputWidth = Int(ow)
    }

    deinit { nf_dnnl_conv_destroy(handle) }

    /// Uses the first of `donors` with the same weight layout, dropping this one's own copy (the
    /// same layer for other batch sizes keeps one reordered copy of its weights).
    func shareWeights(with donors: [DNNLConvolution]) {
        for donor in donors.map({ $0.weightDonor ?? $0 }) where donor !== self {
            if nf_dnnl_conv_share_weights(handle, donor.handle) != 0 {
                weightDonor = donor
                return
            }
        }
    }

    func execute(source: UnsafeRawPointer, destination: UnsafeMutablePointer<Float>) throws {
        let (rc, message) = withDNNLErrorBuffer { err, len in
            nf_dnnl_conv_execute(handle, source, destination, err, len)
        }
        if rc != 0 { throw TensorError("convolution: \(message)") }
    }
}

/// One oneDNN inner-product primitive for one batch size.
final class DNNLLinear: @unchecked Sendable {
    private let handle: OpaquePointer

    init(batch: Int, weight: [Float], inFeatures: Int, outFeatures: Int, bias: [Float]?) throws {
        let (made, message) = withDNNLErrorBuffer { err, len in
            weight.withUnsafeBufferPointer { w in
                if let bias {
                    return bias.withUnsafeBufferPointer { b in
                        nf_dnnl_linear_create(
                            Int64(batch), Int64(inFeatures), Int64(outFeatures),
                            w.baseAddress, b.baseAddress, err, len)
                    }
                }
                return nf_dnnl_linear_create(
                    Int64(batch), Int64(inFeatures), Int64(outFeatures),
                    w.baseAddress, nil, err, len)
            }
        }
        guard let made else { throw TensorError("linear \(outFeatures)x\(inFeatures): \(message)") }
        handle = made
    }

    deinit { nf_dnnl_linear_destroy(handle) }

    func execute(source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>) throws {
        let (rc, message) = withDNNLErrorBuffer { err, len in
            nf_dnnl_linear_execute(handle, source, destination, err, len)
        }
        if rc != 0 { throw TensorError("linear: \(message)") }
    }
}

/// The oneDNN library version, for `/v2` and bench output.
public var oneDNNVersion: String { String(cString: nf_dnnl_version()) }

extension Optional where Wrapped == [Float] {
    /// The array's storage, or nil.
    func withOptionalBufferPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let self else { return body(nil) }
        return self.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
