import NFTensors

/// timm's `ScaledStdConv2d` / `ScaledStdConv2dSame` (timm/layers/std_conv.py; Brock et al. 2021,
/// Scaled Weight Standardization), keys `weight`, `bias`, `gain`:
///
///     w_hat[o] = gain[o] * gamma * fan_in^(-1/2) * (w[o] - mean(w[o])) / sqrt(var(w[o]) + eps)
///
/// with the biased variance over each output channel's fan-in (in/groups * kh * kw), exactly as
/// timm's `F.batch_norm(weight.reshape(1, out, -1), training=True, eps)`. Weights are frozen at
/// inference, so the standardized weights are computed once here, at load, in Double — PyTorch
/// recomputes them on every forward.
public enum ScaledStdConv2d {
    public static func load(
        _ scope: WeightScope, geometry: ConvolutionGeometry, gamma: Float,
        eps: Float
    ) throws -> Conv2d {
        try geometry.validate()
        let weight = try scope.tensor("weight", shape: geometry.weightShape)
        let bias = try scope.tensor("bias", shape: [geometry.outChannels])
        let gain = try scope.tensor("gain", shape: [geometry.outChannels, 1, 1, 1])
        let standardized = standardize(weight, gain: gain.storage, gamma: gamma, eps: eps)
        return Conv2d(
            name: scope.prefix, convolution: Convolution(geometry: geometry, weight: standardized, bias: bias),
            parameterCount: weight.count + bias.count + gain.count)
    }

    /// The standardization alone (OIHW in, OIHW out), for tests and for the SPP builders.
    public static func standardize(_ weight: Tensor, gain: [Float], gamma: Float, eps: Float) -> Tensor {
        let out = weight.shape[0], fanIn = weight.count / out
        let scale = Double(gamma) / Double(fanIn).squareRoot()
        var result = weight
        for o in 0..<out {
            let row = weight.storage[(o * fanIn)..<((o + 1) * fanIn)]
            var sum = 0.0
            for v in row { sum += Double(v) }
            let mean = sum / Double(fanIn)
            var sq = 0.0
            for v in row { sq += (Double(v) - mean) * (Double(v) - mean) }
            let invStd = 1 / (sq / Double(fanIn) + Double(eps)).squareRoot()
            let factor = Double(gain[o]) * scale * invStd
            for i in (o * fanIn)..<((o + 1) * fanIn) { result.storage[i] = Float((Double(weight.storage[i]) - mean) * factor) }
        }
        return result
    }
}
