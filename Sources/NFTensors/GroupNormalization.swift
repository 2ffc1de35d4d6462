import Foundation

/// GroupNorm over NCHW (`nn.GroupNorm(groups, C, eps)`): each sample's channels are split into
/// `groups` groups, normalized by the group's mean and biased variance (accumulated in Double),
/// then scaled and shifted per channel.
public func groupNorm(_ x: Tensor, groups: Int, weight: [Float], bias: [Float], eps: Float) -> Tensor {
    let (n, c, h, w) = x.nchw
    precondition(c % groups == 0, "\(c) channels do not split into \(groups) groups")
    precondition(weight.count == c && bias.count == c, "GroupNorm parameters must have \(c) values")
    let perGroup = c / groups, plane = h * w, span = perGroup * plane
    return Tensor(shape: x.shape) { out in
        x.storage.withUnsafeBufferPointer { src in
            for b in 0..<n {
                for g in 0..<groups {
                    let base = (b * c + g * perGroup) * plane
                    var sum = 0.0, sumSq = 0.0
                    for i in base..<(base + span) {
                        let v = Double(src[i])
                        sum += v
                        sumSq += v * v
                    }
                    let mean = sum / Double(span)
                    let variance = Swift.max(sumSq / Double(span) - mean * mean, 0)
                    let invStd = 1 / (variance + Double(eps)).squareRoot()
                    for k in 0..<perGroup {
                        let ch = g * perGroup + k
                        let m = Float(invStd) * weight[ch]
                        let a = bias[ch] - Float(mean * invStd) * weight[ch]
                        let start = base + k * plane
                        for i in start..<(start + plane) { out[i] = src[i] * m + a }
                    }
                }
            }
        }
    }
}
