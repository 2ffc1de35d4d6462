import Foundation

/// Pointwise activations, applied in place. Their names are timm's (`get_act_layer`).
public enum Activation: String, Sendable, CaseIterable {
    case identity, relu, gelu, silu, sigmoid, tanh

    /// `x -> f(x) * scale`, in place over the whole tensor.
    public func apply(_ x: inout Tensor, scale: Float = 1) {
        let act = self
        x.storage.withUnsafeMutableBufferPointer { p in
            switch act {
            case .identity:
                if scale != 1 { for i in p.indices { p[i] *= scale } }
            case .relu:
                for i in p.indices { p[i] = Swift.max(p[i], 0) * scale }
            case .gelu:
                // Exact GELU, x * Phi(x), as torch.nn.GELU(approximate='none') and timm's 'gelu'.
                for i in p.indices {
                    let v = p[i]
                    p[i] = 0.5 * v * (1 + Foundation.erf(v * 0.70710678118654752)) * scale
                }
            case .silu:
                for i in p.indices {
                    let v = p[i]
                    p[i] = v / (1 + Foundation.exp(-v)) * scale
                }
            case .sigmoid:
                for i in p.indices { p[i] = 1 / (1 + Foundation.exp(-p[i])) * scale }
            case .tanh:
                for i in p.indices { p[i] = Foundation.tanh(p[i]) * scale }
            }
        }
    }

    /// The value of the activation at one point, computed in Double: the reference for `apply`.
    public func reference(_ v: Double) -> Double {
        switch self {
        case .identity: return v
        case .relu: return Swift.max(v, 0)
        case .gelu: return 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot()))
        case .silu: return v / (1 + Foundation.exp(-v))
        case .sigmoid: return 1 / (1 + Foundation.exp(-v))
        case .tanh: return Foundation.tanh(v)
        }
    }
}

extension Tensor {
    /// Elementwise `self = self * scale + other` (shapes must match): the residual add
    /// (NF blocks scale the branch by alpha), optionally followed by ReLU in the same pass.
    public mutating func add(_ other: Tensor, scalingSelfBy scale: Float = 1, relu: Bool = false) {
        precondition(shape == other.shape, "cannot add \(other.shape) to \(shape)")
        storage.withUnsafeMutableBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                switch (scale == 1, relu) {
                case (true, false): for i in a.indices { a[i] += b[i] }
                case (true, true): for i in a.indices { a[i] = Swift.max(a[i] + b[i], 0) }
                case (false, false): for i in a.indices { a[i] = a[i] * scale + b[i] }
                case (false, true): for i in a.indices { a[i] = Swift.max(a[i] * scale + b[i], 0) }
                }
            }
        }
    }

    /// Elementwise `self *= factor`.
    public mutating func scale(by factor: Float) {
        if factor == 1 { return }
        storage.withUnsafeMutableBufferPointer { a in for i in a.indices { a[i] *= factor } }
    }

    /// `self = self * mul[c] + add[c]` per channel of an NCHW tensor (inference BatchNorm, or
    /// any per-channel affine map), optionally followed by ReLU.
    public mutating func channelAffine(multiplier: [Float], addend: [Float], relu: Bool = false) {
        let (n, c, h, w) = nchw
        precondition(multiplier.count == c && addend.count == c, "per-channel parameters must have \(c) values")
        let plane = h * w
        storage.withUnsafeMutableBufferPointer { p in
            for b in 0..<n {
                for ch in 0..<c {
                    let m = multiplier[ch], a = addend[ch]
                    let base = (b * c + ch) * plane
                    if relu {
                        for i in base..<(base + plane) { p[i] = Swift.max(p[i] * m + a, 0) }
                    } else {
                        for i in base..<(base + plane) { p[i] = p[i] * m + a }
                    }
                }
            }
        }
    }

    /// `self[n, c, :, :] *= gate[n, c]` for an NCHW tensor and a `[N, C]` gate (SE / ECA attention).
    public mutating func multiplyChannels(by gate: Tensor) {
        let (n, c, h, w) = nchw
        precondition(gate.count == n * c, "gate \(gate.shape) does not fit \(shape)")
        let plane = h * w
        storage.withUnsafeMutableBufferPointer { p in
            for i in 0..<(n * c) {
                let g = gate.storage[i]
                for j in (i * plane)..<((i + 1) * plane) { p[j] *= g }
            }
        }
    }
}

/// Softmax over the last axis of a `[N, K]` tensor, computed stably (max subtracted) in Double.
public func softmax(_ logits: Tensor) -> Tensor {
    precondition(logits.rank == 2, "softmax expects [N, K], got \(logits.shape)")
    let n = logits.shape[0], k = logits.shape[1]
    var out = logits
    for b in 0..<n {
        let row = logits.storage[(b * k)..<((b + 1) * k)]
        let top = Double(row.max() ?? 0)
        var sum = 0.0
        for v in row { sum += Foundation.exp(Double(v) - top) }
        for j in 0..<k { out.storage[b * k + j] = Float(Foundation.exp(Double(logits.storage[b * k + j]) - top) / sum) }
    }
    return out
}
