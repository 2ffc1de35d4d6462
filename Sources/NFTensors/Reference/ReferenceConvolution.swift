/// Plain direct convolution, the reference the oneDNN path is tested against.
///
/// Input `[N, C_in, H, W]`, weight `[C_out, C_in / groups, KH, KW]`, optional bias `[C_out]`;
/// returns `[N, C_out, OH, OW]`. Accumulates in Double. Slow on purpose: no blocking, no SIMD.
public func referenceConvolution(
    _ input: Tensor, weight: Tensor, bias: Tensor?,
    geometry g: ConvolutionGeometry
) -> Tensor {
    let (n, c, h, w) = input.nchw
    precondition(c == g.inChannels && weight.shape == g.weightShape, "shapes do not match the geometry")
    let p = g.resolvedPadding(height: h, width: w)
    let (oh, ow) = g.outputSize(height: h, width: w)
    let cinPerGroup = g.inChannels / g.groups, coutPerGroup = g.outChannels / g.groups
    var out = Tensor(shape: [n, g.outChannels, oh, ow])
    for b in 0..<n {
        for o in 0..<g.outChannels {
            let group = o / coutPerGroup
            for y in 0..<oh {
                for x in 0..<ow {
                    var acc = Double(bias?.storage[o] ?? 0)
                    for ci in 0..<cinPerGroup {
                        let cin = group * cinPerGroup + ci
                        for ky in 0..<g.kernel.h {
                            let iy = y * g.stride.h - p.top + ky * g.dilation.h
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<g.kernel.w {
                                let ix = x * g.stride.w - p.left + kx * g.dilation.w
                                if ix < 0 || ix >= w { continue }
                                let v = input.storage[((b * c + cin) * h + iy) * w + ix]
                                let wt = weight.storage[((o * cinPerGroup + ci) * g.kernel.h + ky) * g.kernel.w + kx]
                                acc += Double(v) * Double(wt)
                            }
                        }
                    }
                    out.storage[((b * g.outChannels + o) * oh + y) * ow + x] = Float(acc)
                }
            }
        }
    }
    return out
}

/// Plain fully connected layer: `[N, in] x [out, in]^T + bias -> [N, out]`, accumulated in Double.
public func referenceLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let n = input.shape[0], inF = input.shape[1], outF = weight.shape[0]
    precondition(weight.shape == [outF, inF], "weight \(weight.shape) does not take \(inF) inputs")
    var out = Tensor(shape: [n, outF])
    for b in 0..<n {
        for o in 0..<outF {
            var acc = Double(bias?.storage[o] ?? 0)
            for i in 0..<inF { acc += Double(input.storage[b * inF + i]) * Double(weight.storage[o * inF + i]) }
            out.storage[b * outF + o] = Float(acc)
        }
    }
    return out
}
