import Foundation
import NFDatasets
import NFLayers
import NFModels
import NFPipeline
import NFTensors
import Synchronization

/// What a lower precision costs a model, block by block: the same input through the FP32 plan
/// and through the plan at `precision`, compared at the signal-propagation plot's sites (the
/// stem's output, then each residual block's output) and at the logits. Shows where a network's
/// signal is most fragile: the error each block adds, and how the next ones carry it.
public enum PrecisionCost {
    /// `precision`: int8 or bf16 (refused where serving would refuse it). The plan is the served
    /// one when the model is served at `precision`, else one compiled for this run (int8 from its
    /// folder's calibration).
    public static func measure(
        _ pipeline: ModelPipeline, precision: Precision, input request: SignalPropagationInput,
        openDataset: (String) throws -> any ImageDataset
    ) throws -> PrecisionReport {
        var (input, resolved) = try SignalPropagation.makeInput(request, pipeline: pipeline, openDataset: openDataset)
        resolved.channels = input.shape[1]
        return try measure(pipeline, precision: precision, input: input, described: resolved)
    }

    /// The same on a given `[N, C, H, W]` input, reported as `described`.
    public static func measure(
        _ pipeline: ModelPipeline, precision: Precision, input: Tensor, described: SignalPropagationInput
    ) throws -> PrecisionReport {
        let start = ContinuousClock.now
        guard precision != .fp32 else { throw DiagnosticsRequestError("precision must be int8 or bf16 (what FP32 is compared with)") }
        guard let fp32 = pipeline.plan else {
            throw DiagnosticsRequestError("\(pipeline.name) has no execution plan to compile at another precision")
        }
        let low: LowPrecisionPlan
        if let served = pipeline.lowPrecision, served.precision == precision {
            low = served
        } else {
            do {
                low = try LowPrecisionPlan(
                    precision, calibration: Calibration.read(folder: pipeline.loaded.directory), classifier: pipeline.classifier,
                    model: pipeline.name)
            } catch let error as CalibrationError {
                throw DiagnosticsRequestError(error.description)
            }
        }
        let reference = SiteCapture(compareWith: nil)
        let expected = try fp32.logits(input, observer: reference)
        let compared = SiteCapture(compareWith: reference)
        let logits = try low.plan.logits(input, observer: compared)
        let k = expected.shape[1], n = expected.shape[0]
        var agree = 0
        for row in 0..<n {
            func top(_ t: Tensor) -> Int {
                let scores = t.storage[(row * k)..<((row + 1) * k)]
                return scores.indices.max { scores[$0] != scores[$1] ? scores[$0] < scores[$1] : $0 > $1 }! - row * k
            }
            if top(expected) == top(logits) { agree += 1 }
        }
        return PrecisionReport(
            model: pipeline.name, precision: precision.rawValue, input: described,
            calibration: low.calibration.map { .init(method: $0.method, dataset: $0.dataset, images: $0.images) },
            keptInFP32: low.plan.keptInFP32, sites: compared.comparisons,
            logits: .init(
                top1Agreement: Double(agree) / Double(max(n, 1)), maxAbsDifference: Double(logits.maxAbsDifference(expected)),
                error: Comparison(expected.storage, logits.storage)),
            seconds: SignalPropagation.seconds(since: start))
    }
}

/// The relative error and the signal-to-quantization-noise ratio of an approximation.
public struct Comparison: Sendable, Equatable, Codable {
    /// ||approximation - reference|| / ||reference|| (||approximation|| where the reference is 0).
    public let relativeError: Double
    /// 10 log10(sum reference² / sum (approximation - reference)²), in dB (nil where they are equal).
    public let sqnrDb: Double?

    public init(_ reference: [Float], _ approximation: [Float]) {
        var power = 0.0, noise = 0.0
        for (a, b) in zip(reference, approximation) {
            power += Double(a) * Double(a)
            noise += (Double(b) - Double(a)) * (Double(b) - Double(a))
        }
        // Where the reference is all zeros the error cannot be relative: the absolute one (a
        // finite number, as JSON needs).
        relativeError = (power > 0 ? noise / power : noise).squareRoot()
        sqnrDb = noise > 0 && power > 0 ? 10 * log10(power / noise) : nil
    }

    /// `sqnr_db` is always present (null where the values are equal).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(relativeError, forKey: .relativeError)
        try container.encode(sqnrDb, forKey: .sqnrDb)
    }

    private enum CodingKeys: String, CodingKey {
        case relativeError = "relative_error", sqnrDb = "sqnr_db"
    }
}

/// Keeps the stem's and each block's output of the FP32 pass; in the low-precision pass,
/// compares each with the FP32 one and lets it go.
final class SiteCapture: ForwardObserver {
    private let reference: SiteCapture?
    private let state = Mutex<(kept: [ObservationSite: [Float]], comparisons: [PrecisionReport.Site])>(([:], []))

    init(compareWith reference: SiteCapture?) { self.reference = reference }

    var observedSites: ObservedSites { .blocks }
    var comparisons: [PrecisionReport.Site] { state.withLock { $0.comparisons } }

    func take(_ site: ObservationSite) -> [Float]? { state.withLock { $0.kept.removeValue(forKey: site) } }

    func observe(_ site: ObservationSite, _ activation: Tensor) {
        let name: String, kind: String, index: Int
        switch site {
        case .stemOutput: (name, kind, index) = ("stem", "stem", 0)
        case let .blockOutput(position): (name, kind, index) = (position.name, "block", position.index + 1)
        default: return
        }
        guard let reference else {
            state.withLock { $0.kept[site] = activation.storage }
            return
        }
        guard let expected = reference.take(site) else { return }
        let site = PrecisionReport.Site(index: index, name: name, kind: kind, error: Comparison(expected, activation.storage))
        state.withLock { $0.comparisons.append(site) }
    }
}

/// `GET /diagnostics/precision` and `nfserve precision`.
public struct PrecisionReport: Sendable, Encodable {
    public let model: String
    public let precision: String
    public let input: SignalPropagationInput
    public let calibration: CalibrationSummary?
    public let keptInFP32: [KeptInFP32]
    /// The stem (index 0) and each block's output (index 1...), in network order.
    public let sites: [Site]
    public let logits: Logits
    public let seconds: Double

    public struct CalibrationSummary: Sendable, Encodable {
        public let method: String
        public let dataset: String
        public let images: Int
    }

    public struct Site: Sendable, Encodable {
        public let index: Int
        public let name: String
        public let kind: String
        public let error: Comparison

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(name, forKey: .name)
            try container.encode(kind, forKey: .kind)
            try container.encode(error.relativeError, forKey: .relativeError)
            try container.encode(error.sqnrDb, forKey: .sqnrDb)
        }

        public init(index: Int, name: String, kind: String, error: Comparison) {
            self.index = index
            self.name = name
            self.kind = kind
            self.error = error
        }

        private enum CodingKeys: String, CodingKey {
            case index, name, kind, relativeError = "relative_error", sqnrDb = "sqnr_db"
        }
    }

    public struct Logits: Sendable, Encodable {
        /// The share of images whose top-1 class is FP32's.
        public let top1Agreement: Double
        public let maxAbsDifference: Double
        public let error: Comparison

        private enum CodingKeys: String, CodingKey {
            case top1Agreement = "top1_agreement", maxAbsDifference = "max_abs_difference", error
        }
    }

    private enum CodingKeys: String, CodingKey {
        case model, precision, input, calibration, keptInFP32 = "kept_in_fp32", sites, logits, seconds
    }
}

extension PrecisionCost {
    /// Bytes a measurement allocates at most: the FP32 outputs it keeps (every site's, counted by
    /// a pass of one image at 32 px and scaled by the area and the batch), two passes' working
    /// memory, and the plan's weights when one is compiled for it: an int8 plan's a quarter of
    /// the FP32 ones; a bf16 plan's FP32 ones folded and rounded, one and a half times.
    public static func estimatedBytes(
        _ pipeline: ModelPipeline, precision: Precision = .int8, input request: SignalPropagationInput
    ) throws -> Int {
        let batch = request.batch ?? 8
        let height = request.size ?? pipeline.inputSize[1], width = request.size ?? pipeline.inputSize[2]
        try SignalPropagationLimits.checkInput(batch: batch, size: max(height, width))
        let probe = max(32, pipeline.minimumInputSize)
        let counter = SiteCounter()
        _ = try pipeline.classifier.forward(
            Tensor(shape: [1, pipeline.classifier.inputChannels, probe, probe]), context: ForwardContext(observer: counter))
        let kept = Double(counter.values.load(ordering: .relaxed)) * Double(batch) * Double(height * width) / Double(probe * probe) * 4
        let compiled = pipeline.lowPrecision?.precision != precision
        let weights = compiled ? pipeline.classifier.parameterCount * (precision == .bf16 ? 6 : 1) : 0
        return Int(kept) + 2 * (try pipeline.passBytes(batch: batch, height: height, width: width)) + weights
    }
}

/// Counts the values shown at the stem's and the blocks' outputs.
private final class SiteCounter: ForwardObserver {
    let values = Atomic<Int>(0)
    var observedSites: ObservedSites { .blocks }
    func observe(_ site: ObservationSite, _ activation: Tensor) {
        switch site {
        case .stemOutput, .blockOutput: values.add(activation.count, ordering: .relaxed)
        default: break
        }
    }
}
