/// How a convolution pads its input.
public enum ConvolutionPadding: Sendable, Equatable {
    /// The same `(height, width)` padding on both sides, as `nn.Conv2d(padding=...)`.
    case symmetric(Int, Int)
    /// TensorFlow's "SAME": total padding computed from the input size so that
    /// `output = ceil(input / stride)`, the extra pixel going to the bottom/right
    /// (timm `pad_same` / `get_same_padding`, used by `ScaledStdConv2dSame`).
    case tfSame
}

/// Padding resolved for one input size: pixels added on each side.
public struct ResolvedPadding: Sendable, Equatable, Hashable {
    public var top: Int, left: Int, bottom: Int, right: Int
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top
        self.left = left
        self.bottom = bottom
        self.right = right
    }
}

/// The shape-determining parameters of a 2-D convolution over NCHW input with OIHW weights
/// (`O = outChannels`, `I = inChannels / groups`).
public struct ConvolutionGeometry: Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var dilation: (h: Int, w: Int)
    public var groups: Int
    public var padding: ConvolutionPadding

    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, dilation: Int = 1,
        groups: Int = 1, padding: ConvolutionPadding
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = (kernel, kernel)
        self.stride = (stride, stride)
        self.dilation = (dilation, dilation)
        self.groups = groups
        self.padding = padding
    }

    /// PyTorch's default for an odd kernel: `((stride - 1) + dilation * (kernel - 1)) / 2`
    /// (timm `get_padding`).
    public static func defaultPadding(kernel: Int, stride: Int = 1, dilation: Int = 1) -> Int {
        ((stride - 1) + dilation * (kernel - 1)) / 2
    }

    public var weightShape: [Int] { [outChannels, inChannels / groups, kernel.h, kernel.w] }

    /// Throws unless every size is positive and both channel counts split into `groups`: the
    /// numbers come from config.json, which must not be able to crash the process.
    public func validate() throws {
        let sizes = [inChannels, outChannels, groups, kernel.h, kernel.w, stride.h, stride.w, dilation.h, dilation.w]
        guard sizes.allSatisfy({ $0 > 0 }), inChannels % groups == 0, outChannels % groups == 0 else {
            throw TensorError(
                "invalid convolution: \(inChannels) -> \(outChannels) channels in \(groups) group(s), kernel \(kernel), stride \(stride), dilation \(dilation)"
            )
        }
        if case let .symmetric(ph, pw) = padding, ph < 0 || pw < 0 {
            throw TensorError("invalid convolution padding (\(ph), \(pw))")
        }
    }

    /// Multiply-accumulates per output pixel.
    public var macsPerOutput: Int { (inChannels / groups) * kernel.h * kernel.w }

    public static func == (a: ConvolutionGeometry, b: ConvolutionGeometry) -> Bool {
        a.inChannels == b.inChannels && a.outChannels == b.outChannels && a.kernel == b.kernel
            && a.stride == b.stride && a.dilation == b.dilation && a.groups == b.groups && a.padding == b.padding
    }

    /// The padding used for an input of `height` x `width`.
    public func resolvedPadding(height: Int, width: Int) -> ResolvedPadding {
        switch padding {
        case let .symmetric(ph, pw):
            return ResolvedPadding(top: ph, left: pw, bottom: ph, right: pw)
        case .tfSame:
            // timm.layers.padding.get_same_padding: max((ceil(x / s) - 1) * s + (k - 1) * d + 1 - x, 0)
            func same(_ x: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
                let total = max(((x + s - 1) / s - 1) * s + (k - 1) * d + 1 - x, 0)
                return (total / 2, total - total / 2)
            }
            let (t, b) = same(height, kernel.h, stride.h, dilation.h)
            let (l, r) = same(width, kernel.w, stride.w, dilation.w)
            return ResolvedPadding(top: t, left: l, bottom: b, right: r)
        }
    }

    /// Output spatial size for an input of `height` x `width` (PyTorch's floor formula).
    public func outputSize(height: Int, width: Int) -> (h: Int, w: Int) {
        let p = resolvedPadding(height: height, width: width)
        let oh = (height + p.top + p.bottom - dilation.h * (kernel.h - 1) - 1) / stride.h + 1
        let ow = (width + p.left + p.right - dilation.w * (kernel.w - 1) - 1) / stride.w + 1
        return (oh, ow)
    }
}
