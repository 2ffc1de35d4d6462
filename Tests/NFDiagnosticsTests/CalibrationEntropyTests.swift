import Foundation
import NFDiagnostics
import NFLayers
import NFTensors
import Testing

/// Entropy calibration's choice of threshold (`CalibrationRecorder.entropyThreshold`) on
/// histograms whose answer is known: nothing to clip where |x| fills the whole range evenly; a
/// few far outliers beside a half-normal distribution clipped at 3 to 6 standard deviations for
/// s8 (where TensorRT's KL calibration puts 8-bit thresholds for Gaussian data) and no lower for
/// u8, far below the outliers that minmax keeps; the same histogram giving the same answer.
@Suite struct CalibrationEntropyTests {
    /// Counts of |x| over `bins` equal bins of [0, limit) for x ~ N(0, 1) (expected counts of
    /// `samples` draws, rounded), plus `outliers` values at 0.99 x limit.
    static func halfNormal(bins: Int, limit: Double, samples: Double, outliers: Int) -> [Int] {
        var histogram = (0..<bins).map { b -> Int in
            let a = Double(b) * limit / Double(bins), z = Double(b + 1) * limit / Double(bins)
            return Int((samples * (erf(z / 2.0.squareRoot()) - erf(a / 2.0.squareRoot()))).rounded())
        }
        histogram[Int(0.99 * Double(bins))] += outliers
        return histogram
    }

    @Test func evenlyFilledRangesAreNotClipped() {
        #expect(CalibrationRecorder.entropyThreshold([Int](repeating: 50, count: 4096), levels: 128) == 4096)
        #expect(CalibrationRecorder.entropyThreshold([Int](repeating: 50, count: 4096), levels: 256) == 4096)
    }

    /// 10^7 draws over 20 standard deviations, 3 outliers at 19.8. The bins kept are those an
    /// independent NumPy computation of the same algorithm gives
    /// (tools/reference/entropy_reference.py: 976 for 128 levels, 1264 for 256), that is 4.77 and
    /// 6.17 standard deviations: more levels, less clipping.
    @Test func outliersBesideANormalDistributionAreClipped() {
        let histogram = Self.halfNormal(bins: 4096, limit: 20, samples: 1e7, outliers: 3)
        #expect(CalibrationRecorder.entropyThreshold(histogram, levels: 128) == 976)
        #expect(CalibrationRecorder.entropyThreshold(histogram, levels: 256) == 1264)
        let signed = Double(CalibrationRecorder.entropyThreshold(histogram, levels: 128)) * 20 / 4096
        let unsigned = Double(CalibrationRecorder.entropyThreshold(histogram, levels: 256)) * 20 / 4096
        #expect(signed > 3 && signed < 6, "128 levels: threshold \(signed) standard deviations")
        #expect(unsigned >= signed && unsigned < 8, "256 levels: threshold \(unsigned) standard deviations")
        #expect(Double(CalibrationRecorder.entropyThreshold(histogram, levels: 128)) * 20 / 4096 == signed)
    }

    @Test func recordedRangesFollowTheThreshold() {
        // Two passes of the recorder over N(0, 1) noise with one outlier at 20.
        var rng = SplitMix64(seed: 11)
        var values = (0..<200_000).map { _ in Float(rng.nextNormal()) }
        values[7] = 20
        let input = Tensor(shape: [1, 1, 400, 500], storage: values)
        let first = CalibrationRecorder()
        first.observe(.convolutionInput(name: "c"), input)
        let second = CalibrationRecorder(after: first)
        second.observe(.convolutionInput(name: "c"), input)
        let minmax = first.ranges(.minmax)["c"]!, entropy = second.ranges(.entropy)["c"]!
        #expect(minmax.max == 20)
        #expect(entropy.max > 3 && entropy.max < 6 && entropy.min == max(minmax.min, -entropy.max), "\(entropy)")
    }
}
