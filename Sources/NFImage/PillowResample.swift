import CNFImageCodecs
import Foundation

/// The resampling filters timm names (timm.data.transforms `_pil_interpolation_to_str`),
/// which torchvision maps to Pillow's `Image.Resampling` for PIL images.
public enum Interpolation: String, CaseIterable, Sendable {
    case nearest, bilinear, bicubic, box, hamming, lanczos
}

/// Pillow 13's `Image.resize(size, resample)` for 8-bit "L" and "RGB" images, bit for bit.
///
/// torchvision's `F.resize` on a PIL image calls `img.resize((w, h), interpolation)` with
/// `reducing_gap=None` and no box, so no `Image.reduce` pre-step ever runs. Pillow then:
/// - returns a copy when the size is unchanged (Image.resize; torchvision even returns the
///   image itself);
/// - NEAREST: `ImagingTransform` affine scale (Geometry.c `ImagingScaleAffine`): source
///   column `COORD(xo)` with `xo` starting at `scale * 0.5` and accumulating `+= scale` in
///   double precision (`scale = in / out`), same for rows;
/// - every other filter: `ImagingResample` (libImaging/Resample.c): a separable convolution
///   whose support is widened by the downscale factor (antialiasing); per output pixel the
///   weights are computed in double (`precompute_coeffs`), normalised to sum 1, converted to
///   fixed point with PRECISION_BITS = 32 - 8 - 2 = 22 (`normalize_coeffs_8bpc`, rounding
///   half away from zero), accumulated in a 32-bit int starting at 1 << 21 (rounding) and
///   clipped to 0...255 after `>> 22` (`clip8`). The horizontal pass always runs first, over
///   only the source rows the vertical pass will read; a pass is skipped when that dimension
///   keeps its size.
///
/// Each output pixel depends only on its own coefficients, so computing just a window of the
/// output (the part a center crop keeps) gives exactly the bytes of the full resize.
enum PillowResample {
    struct Filter: Sendable {
        let support: Double
        let weight: @Sendable (Double) -> Double

        // Resample.c's filters, with its constants and operation order.
        static let box = Filter(support: 0.5) { x in (x > -0.5 && x <= 0.5) ? 1.0 : 0.0 }
        static let bilinear = Filter(support: 1.0) { x in
            let x = x < 0.0 ? -x : x
            return x < 1.0 ? 1.0 - x : 0.0
        }
        static let hamming = Filter(support: 1.0) { x in
            var x = x < 0.0 ? -x : x
            if x == 0.0 { return 1.0 }
            if x >= 1.0 { return 0.0 }
            x = x * Double.pi
            // `0.54f + 0.46f * cos(x)`: float literals promoted to double.
            return sin(x) / x * (Double(Float(0.54)) + Double(Float(0.46)) * cos(x))
        }
        static let bicubic = Filter(support: 2.0) { x in
            let a = -0.5
            let x = x < 0.0 ? -x : x
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        }
        static let lanczos = Filter(support: 3.0) { x in
            @inline(__always) func sinc(_ x: Double) -> Double {
                if x == 0.0 { return 1.0 }
                let y = x * Double.pi
                return sin(y) / y
            }
            return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0
        }

        static func named(_ interpolation: Interpolation) -> Filter? {
            switch interpolation {
            case .nearest: return nil
            case .bilinear: return .bilinear
            case .bicubic: return .bicubic
            case .box: return .box
            case .hamming: return .hamming
            case .lanczos: return .lanczos
            }
        }
    }

    static let precisionBits: Int32 = 32 - 8 - 2

    /// Fixed-point weights for the outputs in `window` (indices relative to its start).
    struct Coefficients {
        let ksize: Int
        /// Per output: first source index and number of taps.
        var first: [Int]
        var count: [Int]
        var weights: [Int32]
    }

    /// `precompute_coeffs` + `normalize_coeffs_8bpc` for output indices `window`.
    static func coefficients(inSize: Int, outSize: Int, filter: Filter, window: Range<Int>) -> Coefficients {
        // (double)(in1 - in0) / outSize with float box coordinates 0 and inSize.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterscale = scale < 1.0 ? 1.0 : scale
        let support = filter.support * filterscale
        let ksize = Int(ceil(support)) * 2 + 1
        let n = window.count
        var first = [Int](repeating: 0, count: n)
        var count = [Int](repeating: 0, count: n)
        var weights = [Int32](repeating: 0, count: n * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let ss = 1.0 / filterscale
        let one = Double(1 << precisionBits)
        for (j, xx) in window.enumerated() {
            let center = Double(Float(0)) + (Double(xx) + 0.5) * scale
            var ww = 0.0
            var xmin = Int(center - support + 0.5)  // (int) truncates toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            for x in 0..<max(xmax, 0) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<max(xmax, 0) where ww != 0.0 {
                k[x] /= ww
            }
            for x in 0..<max(xmax, 0) {
                weights[j * ksize + x] = k[x] < 0 ? Int32(-0.5 + k[x] * one) : Int32(0.5 + k[x] * one)
            }
            first[j] = xmin
            count[j] = max(xmax, 0)
        }
        return Coefficients(ksize: ksize, first: first, count: count, weights: weights)
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        let q = v >> precisionBits
        return q < 0 ? 0 : (q > 255 ? 255 : UInt8(truncatingIfNeeded: q))
    }

    /// The window `xs` x `ys` of `image` resized to `width` x `height` with `interpolation`.
    /// With the full ranges this is `Image.resize((width, height), filter)`.
    static func resize(
        _ image: Image8, width: Int, height: Int, interpolation: Interpolation,
        xs: Range<Int>? = nil, ys: Range<Int>? = nil
    ) -> Image8 {
        let xs = xs ?? 0..<width, ys = ys ?? 0..<height
        precondition(xs.lowerBound >= 0 && xs.upperBound <= width && !xs.isEmpty)
        precondition(ys.lowerBound >= 0 && ys.upperBound <= height && !ys.isEmpty)
        if width == image.width && height == image.height {
            return crop(image, xs: xs, ys: ys)
        }
        guard let filter = Filter.named(interpolation) else {
            return nearest(image, width: width, height: height, xs: xs, ys: ys)
        }
        let needHorizontal = width != image.width
        let needVertical = height != image.height

        // Source rows the output window needs (all of `ys` when there is no vertical pass).
        let vertical: Coefficients? =
            needVertical
            ? coefficients(inSize: image.height, outSize: height, filter: filter, window: ys) : nil
        let rows: Range<Int>
        if let v = vertical {
            rows = v.first[0]..<(v.first[v.first.count - 1] + v.count[v.count.count - 1])
        } else {
            rows = ys
        }

        // Horizontal pass: `rows` x `xs`, or the source columns `xs` when not needed.
        let temp: Image8
        if needHorizontal {
            let h = coefficients(inSize: image.width, outSize: width, filter: filter, window: xs)
            temp = horizontalPass(image, rows: rows, coefficients: h)
        } else {
            temp = crop(image, xs: xs, ys: rows)
        }
        guard let v = vertical else { return temp }
        return verticalPass(temp, rowOffset: rows.lowerBound, coefficients: v)
    }

    /// ImagingResampleHorizontal_8bpc over source rows `rows`: `nf_resample_horizontal_u8`,
    /// which sums whole columns (transposed) in an order the compiler vectorises, with AVX2
    /// where the CPU has it. The same integer sums as `horizontalPassReference`, so the same bytes.
    static func horizontalPass(_ image: Image8, rows: Range<Int>, coefficients co: Coefficients) -> Image8 {
        Image8(width: co.first.count, height: rows.count, channels: image.channels) { out in
            let status = nf_resample_horizontal_u8(
                image.pixels, image.width, image.channels, rows.lowerBound, rows.count, co.first, co.count, co.weights,
                co.ksize, co.first.count, out.baseAddress)
            precondition(status == 0, "out of memory resampling an image")
        }
    }

    /// ImagingResampleHorizontal_8bpc over source rows `rows`, per output pixel as Pillow
    /// writes it: the plain kernel `horizontalPass` is tested against.
    static func horizontalPassReference(_ image: Image8, rows: Range<Int>, coefficients co: Coefficients) -> Image8 {
        let c = image.channels, inW = image.width
        let outW = co.first.count, outH = rows.count
        let ksize = co.ksize
        let half: Int32 = 1 << (precisionBits - 1)
        return Image8(width: outW, height: outH, channels: c) { out in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                co.weights.withUnsafeBufferPointer { wBuffer in
                    co.first.withUnsafeBufferPointer { firstBuffer in
                        co.count.withUnsafeBufferPointer { countBuffer in
                            let src = srcBuffer.baseAddress!, wts = wBuffer.baseAddress!
                            let firsts = firstBuffer.baseAddress!, counts = countBuffer.baseAddress!
                            let dst = out.baseAddress!
                            for (oy, y) in rows.enumerated() {
                                let row = src + y * inW * c
                                var o = dst + oy * outW * c
                                if c == 1 {
                                    for xx in 0..<outW {
                                        let k = wts + xx * ksize
                                        let p = row + firsts[xx]
                                        var s0 = half
                                        for t in 0..<counts[xx] {
                                            s0 &+= Int32(p[t]) &* k[t]
                                        }
                                        o[0] = clip8(s0)
                                        o += 1
                                    }
                                } else {
                                    for xx in 0..<outW {
                                        let k = wts + xx * ksize
                                        var p = row + firsts[xx] * 3
                                        var s0 = half, s1 = half, s2 = half
                                        for t in 0..<counts[xx] {
                                            let w = k[t]
                                            s0 &+= Int32(p[0]) &* w
                                            s1 &+= Int32(p[1]) &* w
                                            s2 &+= Int32(p[2]) &* w
                                            p += 3
                                        }
                                        o[0] = clip8(s0)
                                        o[1] = clip8(s1)
                                        o[2] = clip8(s2)
                                        o += 3
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// ImagingResampleVertical_8bpc; `image` row 0 is source row `rowOffset`:
    /// `nf_resample_vertical_u8` (AVX2 where the CPU has it), the same integer sums as
    /// `verticalPassReference`.
    static func verticalPass(_ image: Image8, rowOffset: Int, coefficients co: Coefficients) -> Image8 {
        let first = co.first.map { $0 - rowOffset }
        return Image8(width: image.width, height: co.first.count, channels: image.channels) { out in
            let status = nf_resample_vertical_u8(
                image.pixels, image.width * image.channels, first, co.count, co.weights, co.ksize, co.first.count,
                out.baseAddress)
            precondition(status == 0, "out of memory resampling an image")
        }
    }

    /// ImagingResampleVertical_8bpc; `image` row 0 is source row `rowOffset`. The taps are
    /// summed row by row into a 32-bit accumulator per byte (same integer sums as Pillow's
    /// per-pixel loop): the plain kernel `verticalPass` is tested against.
    static func verticalPassReference(_ image: Image8, rowOffset: Int, coefficients co: Coefficients) -> Image8 {
        let c = image.channels
        let rowLength = image.width * c
        let outH = co.first.count
        let ksize = co.ksize
        let half: Int32 = 1 << (precisionBits - 1)
        var accumulator = [Int32](repeating: 0, count: rowLength)
        return Image8(width: image.width, height: outH, channels: c) { out in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                co.weights.withUnsafeBufferPointer { wBuffer in
                    accumulator.withUnsafeMutableBufferPointer { accBuffer in
                        let src = srcBuffer.baseAddress!, wts = wBuffer.baseAddress!
                        let acc = accBuffer.baseAddress!, dst = out.baseAddress!
                        for yy in 0..<outH {
                            for i in 0..<rowLength { acc[i] = half }
                            let k = wts + yy * ksize
                            let ymin = co.first[yy] - rowOffset
                            for t in 0..<co.count[yy] {
                                let row = src + (ymin + t) * rowLength
                                let w = k[t]
                                for i in 0..<rowLength {
                                    acc[i] &+= Int32(row[i]) &* w
                                }
                            }
                            let o = dst + yy * rowLength
                            for i in 0..<rowLength { o[i] = clip8(acc[i]) }
                        }
                    }
                }
            }
        }
    }

    /// Geometry.c ImagingScaleAffine (nearest neighbour) for the window `xs` x `ys`.
    static func nearest(_ image: Image8, width: Int, height: Int, xs: Range<Int>, ys: Range<Int>) -> Image8 {
        let c = image.channels, inW = image.width, inH = image.height
        @inline(__always) func coord(_ v: Double) -> Int { v < 0.0 ? -1 : Int(v) }
        // a[0] = (double)(box[2] - box[0]) / xsize, xo = a[2] + a[0] * 0.5, then xo += a[0].
        func table(inSize: Int, outSize: Int, window: Range<Int>) -> [Int] {
            let a = Double(Float(inSize) - Float(0)) / Double(outSize)
            var o = Double(Float(0)) + a * 0.5
            var result = [Int](repeating: -1, count: window.count)
            for i in 0..<window.upperBound {
                if i >= window.lowerBound {
                    let v = coord(o)
                    result[i - window.lowerBound] = (v >= 0 && v < inSize) ? v : -1
                }
                o += a
            }
            return result
        }
        let xin = table(inSize: inW, outSize: width, window: xs)
        let yin = table(inSize: inH, outSize: height, window: ys)
        return Image8(width: xs.count, height: ys.count, channels: c) { out in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!, dst = out.baseAddress!
                for (oy, sy) in yin.enumerated() {
                    var o = dst + oy * xs.count * c
                    for sx in xin {
                        if sy < 0 || sx < 0 {
                            for ch in 0..<c { o[ch] = 0 }  // outside the source: Pillow fills 0
                        } else {
                            let p = src + (sy * inW + sx) * c
                            for ch in 0..<c { o[ch] = p[ch] }
                        }
                        o += c
                    }
                }
            }
        }
    }

    /// The sub-image `xs` x `ys` (which must lie inside `image`).
    static func crop(_ image: Image8, xs: Range<Int>, ys: Range<Int>) -> Image8 {
        if xs == 0..<image.width && ys == 0..<image.height { return image }
        let c = image.channels
        return Image8(width: xs.count, height: ys.count, channels: c) { out in
            image.pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!, dst = out.baseAddress!
                let rowBytes = xs.count * c
                for (oy, y) in ys.enumerated() {
                    (dst + oy * rowBytes).update(from: src + (y * image.width + xs.lowerBound) * c, count: rowBytes)
                }
            }
        }
    }
}
