/// Output size of PyTorch's pooling along one axis (`pooling_output_shape` in ATen):
/// floor or ceil of `(in + 2p - k) / s + 1`; with ceil_mode the last window must start inside
/// the input or its left padding.
public func poolingOutputSize(_ input: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Int {
    let span = input + 2 * padding - kernel
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if ceilMode && (out - 1) * stride >= input + padding { out -= 1 }
    return out
}

/// Max pooling over NCHW (`nn.MaxPool2d(kernel, stride, padding, ceil_mode)`); padding is -inf.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int, ceilMode: Bool = false) -> Tensor {
    let (n, c, h, w) = x.nchw
    let oh = poolingOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolingOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    return Tensor(shape: [n, c, oh, ow]) { out in
        x.storage.withUnsafeBufferPointer { src in
            for plane in 0..<(n * c) {
                let s = src.baseAddress! + plane * h * w
                for oy in 0..<oh {
                    let y0 = Swift.max(oy * stride - padding, 0), y1 = Swift.min(oy * stride - padding + kernel, h)
                    for ox in 0..<ow {
                        let x0 = Swift.max(ox * stride - padding, 0), x1 = Swift.min(ox * stride - padding + kernel, w)
                        var best = -Float.infinity
                        for yy in y0..<y1 { for xx in x0..<x1 { best = Swift.max(best, s[yy * w + xx]) } }
                        out[(plane * oh + oy) * ow + ox] = best
                    }
                }
            }
        }
    }
}

/// Average pooling over NCHW (`nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad)`),
/// with ATen's divisor rule: the window clipped to the padded input when padding counts, to the
/// input itself when it does not (timm's DownsampleAvg uses ceil_mode=True, count_include_pad=False).
public func avgPool2d(
    _ x: Tensor, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false,
    countIncludePad: Bool = true
) -> Tensor {
    let (n, c, h, w) = x.nchw
    let oh = poolingOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolingOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    return Tensor(shape: [n, c, oh, ow]) { out in
        x.storage.withUnsafeBufferPointer { src in
            for plane in 0..<(n * c) {
                let s = src.baseAddress! + plane * h * w
                for oy in 0..<oh {
                    var y0 = oy * stride - padding
                    var y1 = Swift.min(y0 + kernel, h + padding)
                    let padH = y1 - y0
                    y0 = Swift.max(y0, 0)
                    y1 = Swift.min(y1, h)
                    for ox in 0..<ow {
                        var x0 = ox * stride - padding
                        var x1 = Swift.min(x0 + kernel, w + padding)
                        let padW = x1 - x0
                        x0 = Swift.max(x0, 0)
                        x1 = Swift.min(x1, w)
                        var sum: Float = 0
                        for yy in y0..<y1 { for xx in x0..<x1 { sum += s[yy * w + xx] } }
                        let divisor = countIncludePad ? padH * padW : (y1 - y0) * (x1 - x0)
                        out[(plane * oh + oy) * ow + ox] = sum / Float(divisor)
                    }
                }
            }
        }
    }
}

/// Mean over H and W: `[N, C, H, W] -> [N, C]` (timm `SelectAdaptivePool2d('avg', flatten=True)`).
public func globalAveragePool(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = x.nchw
    let plane = h * w
    return Tensor(shape: [n, c]) { out in
        x.storage.withUnsafeBufferPointer { src in
            for i in 0..<(n * c) {
                var sum: Double = 0
                for j in (i * plane)..<((i + 1) * plane) { sum += Double(src[j]) }
                out[i] = Float(sum / Double(plane))
            }
        }
    }
}
