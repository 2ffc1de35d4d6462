import NFTensors

/// A preprocessing configuration nfserve cannot reproduce (a server-side configuration
/// problem, not the client's): thrown by `Preprocessing.init`.
public enum PreprocessingError: Error, CustomStringConvertible, Sendable, Equatable {
    case unsupportedInterpolation(String)
    case unsupportedCropMode(String)
    case invalidInputSize([Int])
    case invalidCropPct(Double)
    case invalidNormalization(String)

    public var description: String {
        switch self {
        case .unsupportedInterpolation(let name):
            return "unsupported interpolation '\(name)' (expected one of: \(Interpolation.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unsupportedCropMode(let name):
            return "unsupported crop mode '\(name)' (expected center, squash or border)"
        case .invalidInputSize(let size):
            return "invalid input size \(size) (expected [C, H, W] with C = 1 or 3 and H, W > 0)"
        case .invalidCropPct(let value):
            return "invalid crop_pct \(value) (expected a positive number)"
        case .invalidNormalization(let why):
            return "invalid normalization: \(why)"
        }
    }
}

/// How the resized image is cut to the input size (timm `pretrained_cfg["crop_mode"]`).
public enum CropMode: String, CaseIterable, Sendable {
    /// Resize the shorter side to size / crop_pct, then center-crop (timm's default).
    case center
    /// Resize both sides to size / crop_pct (aspect ratio not kept), then center-crop.
    case squash
    /// Resize the longer side to size / crop_pct, then center-crop or pad with the mean colour.
    case border
}

/// timm's eval transform, reproduced exactly for 8-bit images:
/// `timm.data.create_transform(**timm.data.resolve_data_config({}, model=m))`, i.e.
/// `transforms_imagenet_eval` in timm/data/transforms_factory.py (timm 1.0.31):
///
///     scale_size = floor(img_size / crop_pct)                  (per side for (H, W) sizes)
///     center: if scale_size[0] == scale_size[1]:
///                 torchvision Resize(scale_size[0])            shorter side, int(size * long / short)
///             else:
///                 ResizeKeepRatio(scale_size)                  round(side / min ratio), Python round
///             torchvision CenterCrop(img_size)
///     squash: torchvision Resize(scale_size) + CenterCrop(img_size)
///     border: ResizeKeepRatio(scale_size, longest=1) + CenterCropOrPad(img_size,
///             fill=[round(255 * m) for m in mean])
///     MaybeToTensor (x / 255 in float32) + Normalize(mean, std) ((x - mean) / std in float32)
///
/// The image is first converted to C channels with Pillow's convert rules (the reference does
/// `img.convert("RGB")` or `img.convert("L")` before the transform). Resizing is Pillow's
/// (`PillowResample`), as torchvision hands PIL images to `Image.resize`. Crop offsets are
/// torchvision's `int(round((size - crop) / 2.0))` with Python's round-half-to-even, and a
/// crop larger than the image first pads `(crop - size) // 2` before and the rest after
/// (with 0 for CenterCrop, with the mean colour for CenterCropOrPad).
public struct Preprocessing: Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let interpolation: Interpolation
    public let cropPct: Double
    public let cropMode: CropMode
    public let mean: [Float]
    public let std: [Float]
    /// `floor(height / cropPct)`, `floor(width / cropPct)`.
    public let scaleHeight: Int
    public let scaleWidth: Int
    /// `table[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c]`, the exact float32
    /// operations of ToTensor + Normalize, so the tensor is a lookup per byte.
    private let table: [Float]
    /// Padding value per channel: 0 (CenterCrop) or round(255 * mean) (CenterCropOrPad).
    private let fill: [UInt8]

    /// - Parameters:
    ///   - inputSize: `[C, H, W]` (timm `input_size`), C = 1 or 3.
    ///   - interpolation: timm name: nearest, bilinear, bicubic, box, hamming, lanczos.
    ///   - cropPct: timm `crop_pct` (> 0).
    ///   - cropMode: "center" (or "" for timm's default), "squash" or "border".
    ///   - mean, std: C values each.
    /// - Throws: `PreprocessingError` for a configuration that cannot be reproduced.
    public init(
        inputSize: [Int], interpolation: String, cropPct: Double, cropMode: String,
        mean: [Float], std: [Float]
    ) throws {
        guard inputSize.count == 3, inputSize[0] == 1 || inputSize[0] == 3,
            inputSize[1] > 0, inputSize[2] > 0
        else {
            throw PreprocessingError.invalidInputSize(inputSize)
        }
        guard let interpolationValue = Interpolation(rawValue: interpolation.lowercased()) else {
            throw PreprocessingError.unsupportedInterpolation(interpolation)
        }
        let modeName = cropMode.lowercased()
        guard let mode = modeName.isEmpty ? .center : CropMode(rawValue: modeName) else {
            throw PreprocessingError.unsupportedCropMode(cropMode)
        }
        guard cropPct > 0, cropPct.isFinite else { throw PreprocessingError.invalidCropPct(cropPct) }
        let c = inputSize[0]
        guard mean.count == c, std.count == c else {
            throw PreprocessingError.invalidNormalization("mean and std need \(c) values, got \(mean.count) and \(std.count)")
        }
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw PreprocessingError.invalidNormalization("mean must be finite and std finite and non-zero")
        }
        let scaleHeight = Int((Double(inputSize[1]) / cropPct).rounded(.down))
        let scaleWidth = Int((Double(inputSize[2]) / cropPct).rounded(.down))
        guard scaleHeight > 0, scaleWidth > 0 else { throw PreprocessingError.invalidCropPct(cropPct) }

        self.channels = c
        self.height = inputSize[1]
        self.width = inputSize[2]
        self.interpolation = interpolationValue
        self.cropPct = cropPct
        self.cropMode = mode
        self.mean = mean
        self.std = std
        self.scaleHeight = scaleHeight
        self.scaleWidth = scaleWidth
        var table = [Float](repeating: 0, count: c * 256)
        for ch in 0..<c {
            for v in 0..<256 {
                table[ch * 256 + v] = (Float(v) / Float(255) - mean[ch]) / std[ch]
            }
        }
        self.table = table
        if mode == .border {
            // timm: fill = [round(255 * v) for v in mean]; Python's round is half-to-even.
            self.fill = mean.map { UInt8(clamping: Int((255 * Double($0)).rounded(.toNearestOrEven))) }
        } else {
            self.fill = [UInt8](repeating: 0, count: c)
        }
    }

    /// The preprocessed tensor `[1, C, H, W]` (float32) for one image.
    public func callAsFunction(_ image: Image8) -> Tensor {
        Tensor(shape: [1, channels, height, width]) { buffer in
            write(image, into: buffer.baseAddress!)
        }
    }

    /// The preprocessed tensors of `images` stacked into `[N, C, H, W]`.
    public func batch(_ images: [Image8]) -> Tensor {
        let plane = channels * height * width
        return Tensor(shape: [images.count, channels, height, width]) { buffer in
            for (n, image) in images.enumerated() {
                write(image, into: buffer.baseAddress! + n * plane)
            }
        }
    }

    /// The 8-bit image ToTensor sees: converted, resized and cropped (or padded) to H x W.
    /// (For tests and diagnostics; `callAsFunction` does not materialise it.)
    public func resizedAndCropped(_ image: Image8) -> Image8 {
        let (region, layout) = prepare(image)
        return Image8(width: width, height: height, channels: channels) { out in
            let o = out.baseAddress!
            for y in 0..<height {
                for x in 0..<width {
                    for ch in 0..<channels {
                        o[(y * width + x) * channels + ch] = layout.value(region, x: x, y: y, channel: ch, fill: fill)
                    }
                }
            }
        }
    }

    // MARK: - Geometry

    /// Where the crop window sits in the resized image.
    struct Layout {
        /// Size of the resized image.
        let resizedWidth: Int, resizedHeight: Int
        /// Crop origin in resized coordinates (negative when padding is added before).
        let offsetX: Int, offsetY: Int
        /// The part of the resized image the crop covers (what is actually resampled).
        let xs: Range<Int>, ys: Range<Int>

        @inline(__always)
        func value(_ region: Image8?, x: Int, y: Int, channel: Int, fill: [UInt8]) -> UInt8 {
            let sx = x + offsetX, sy = y + offsetY
            guard let region, xs.contains(sx), ys.contains(sy) else { return fill[channel] }
            return region.pixels[((sy - ys.lowerBound) * region.width + (sx - xs.lowerBound)) * region.channels + channel]
        }
    }

    /// The size the resize step produces for a `w` x `h` image.
    func resizedSize(width w: Int, height h: Int) -> (width: Int, height: Int) {
        func keepRatio(longest: Double) -> (width: Int, height: Int) {
            // timm ResizeKeepRatio.get_params (no random scale/aspect).
            let ratioH = Double(h) / Double(scaleHeight)
            let ratioW = Double(w) / Double(scaleWidth)
            let ratio = max(ratioH, ratioW) * longest + min(ratioH, ratioW) * (1.0 - longest)
            let newH = Int((Double(h) * 1.0 / ratio).rounded(.toNearestOrEven))
            let newW = Int((Double(w) * 1.0 / ratio).rounded(.toNearestOrEven))
            // A 0-pixel side makes Pillow raise; keep at least one pixel instead.
            return (max(newW, 1), max(newH, 1))
        }
        switch cropMode {
        case .squash:
            return (scaleWidth, scaleHeight)
        case .border:
            return keepRatio(longest: 1.0)
        case .center:
            guard scaleHeight == scaleWidth else { return keepRatio(longest: 0.0) }
            // torchvision _compute_resized_output_size with a single size.
            let size = scaleHeight
            let (short, long) = w <= h ? (w, h) : (h, w)
            let newLong = Int(Double(size * long) / Double(short))
            return w <= h ? (size, newLong) : (newLong, size)
        }
    }

    /// torchvision center_crop / timm center_crop_or_pad offset along one side.
    static func cropOffset(size: Int, crop: Int) -> Int {
        if crop > size { return -((crop - size) / 2) }  // left/top padding
        let d = size - crop  // round(d / 2.0), half to even
        let half = d / 2
        return d % 2 == 0 ? half : (half % 2 == 0 ? half : half + 1)
    }

    func layout(width w: Int, height h: Int) -> Layout {
        let (rw, rh) = resizedSize(width: w, height: h)
        let ox = Self.cropOffset(size: rw, crop: width)
        let oy = Self.cropOffset(size: rh, crop: height)
        let xs = max(0, ox)..<max(max(0, ox), min(rw, ox + width))
        let ys = max(0, oy)..<max(max(0, oy), min(rh, oy + height))
        return Layout(resizedWidth: rw, resizedHeight: rh, offsetX: ox, offsetY: oy, xs: xs, ys: ys)
    }

    /// Converts and resamples just the part of the resized image the crop keeps.
    private func prepare(_ image: Image8) -> (Image8?, Layout) {
        let converted = image.converted(toChannels: channels)
        let layout = layout(width: converted.width, height: converted.height)
        guard !layout.xs.isEmpty, !layout.ys.isEmpty else { return (nil, layout) }
        let region = PillowResample.resize(
            converted, width: layout.resizedWidth, height: layout.resizedHeight,
            interpolation: interpolation, xs: layout.xs, ys: layout.ys)
        return (region, layout)
    }

    /// Writes the normalised CHW planes of `image` at `output`.
    private func write(_ image: Image8, into output: UnsafeMutablePointer<Float>) {
        let (region, layout) = prepare(image)
        let c = channels, w = width, h = height
        table.withUnsafeBufferPointer { tableBuffer in
            let lut = tableBuffer.baseAddress!
            // Columns of the crop that come from the image (the rest is padding).
            let x0 = layout.xs.lowerBound - layout.offsetX
            let x1 = layout.xs.upperBound - layout.offsetX
            for ch in 0..<c {
                let plane = output + ch * h * w
                let channelTable = lut + ch * 256
                let padValue = channelTable[Int(fill[ch])]
                for y in 0..<h {
                    let row = plane + y * w
                    let sy = y + layout.offsetY
                    guard let region, layout.ys.contains(sy), x0 < x1 else {
                        row.update(repeating: padValue, count: w)
                        continue
                    }
                    if x0 > 0 { row.update(repeating: padValue, count: x0) }
                    if x1 < w { (row + x1).update(repeating: padValue, count: w - x1) }
                    region.pixels.withUnsafeBufferPointer { pixels in
                        var p = pixels.baseAddress! + (sy - layout.ys.lowerBound) * region.width * c + ch
                        for x in x0..<x1 {
                            row[x] = channelTable[Int(p.pointee)]
                            p += c
                        }
                    }
                }
            }
        }
    }
}
