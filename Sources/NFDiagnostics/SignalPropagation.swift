import NFDatasets
import NFImage
import NFLayers
import NFModels
import NFPipeline
import NFTensors

/// Signal propagation plots (Brock, De & Smith 2021; docs/signal-propagation.md): per residual block,
/// the average channel squared mean, the average channel variance and the residual branch's
/// variance, for a served model, for a registered architecture at initialization, or for one of
/// the paper's designs. Every function here is blocking (the server runs them off its event
/// loops); each checks its request against `SignalPropagationLimits` before any work.
public enum SignalPropagation {
    /// A served (trained) model on N(0, 1) noise or on the first `batch` images of a dataset,
    /// preprocessed exactly as for prediction. `openDataset` opens the dataset the input names
    /// (the server: names in its catalog only; the command line: names or folders).
    public static func measure(
        _ pipeline: ModelPipeline, input request: SignalPropagationInput,
        openDataset: (String) throws -> any ImageDataset
    ) throws -> SignalPropagationReport {
        let start = ContinuousClock.now
        let (input, resolved) = try makeInput(request, pipeline: pipeline, openDataset: openDataset)
        let recorder = SignalPropagationRecorder()
        _ = try pipeline.logits(input: input, context: ForwardContext(observer: recorder))
        var notes: [String] = []
        if pipeline.classifier.normalizationKind != .normalizerFree {
            notes.append("BatchNorm layers use their running statistics (inference mode), as in prediction.")
        }
        return SignalPropagationReport(
            model: pipeline.name, architecture: nil, atInit: false, label: pipeline.name, input: resolved,
            blockOutput: blockOutputDescription(pipeline.classifier), notes: notes, seconds: seconds(since: start),
            points: recorder.points(expectedVariances: expectedVariances(pipeline.classifier)))
    }

    /// One of the paper's designs at initialization (`DesignNetwork`) on N(0, 1) noise.
    public static func measure(design: NetworkDesign, input request: SignalPropagationInput) throws -> SignalPropagationReport {
        let start = ContinuousClock.now
        let design = try design.validated()
        let (resolved, seed) = try designInput(request)
        let network = DesignNetwork(design: design, seed: seed)
        let gigaFLOPs = network.flops(batch: resolved.batch!, size: resolved.size!) / 1e9
        guard gigaFLOPs <= SignalPropagationLimits.maxGigaFLOPs else {
            throw DiagnosticsRequestError(
                "this design needs \(Int(gigaFLOPs.rounded())) GFLOPs at batch \(resolved.batch!), \(resolved.size!) px; "
                    + "the limit maxGigaFLOPs is \(Int(SignalPropagationLimits.maxGigaFLOPs)): use fewer blocks, a smaller width, batch or size")
        }
        let recorder = SignalPropagationRecorder()
        try network.run(
            gaussian(batch: resolved.batch!, channels: 3, height: resolved.size!, width: resolved.size!, seed: seed),
            observer: recorder)
        var notes = [
            "Weights drawn at initialization with seed \(seed) (\(design.family == .nfResnet && design.weightStandardization! ? "DeepMind's scaled weight standardization" : "He-normal, N(0, 2/fan_in)")); the input is N(0, 1) noise from the same seed."
        ]
        if design.family == .preactResnet {
            notes.append("BatchNorm normalizes with the batch's own statistics (training mode), as at initialization.")
        }
        return SignalPropagationReport(
            model: nil, architecture: design, atInit: true, label: design.label!, input: resolved,
            blockOutput:
                "the sum of the residual branch\(design.family == .nfResnet ? " (times alpha)" : "") and the shortcut; no activation follows the addition in these pre-activation blocks",
            notes: notes, seconds: seconds(since: start), points: recorder.points(expectedVariances: network.expectedVariances))
    }

    /// A registered timm architecture (`ModelRegistry`) at initialization on N(0, 1) noise.
    public static func measure(architecture: String, input request: SignalPropagationInput) throws -> SignalPropagationReport {
        let start = ContinuousClock.now
        guard ModelRegistry.architectures.contains(architecture) else {
            throw DiagnosticsRequestError(
                "\"\(architecture)\" is not a registered architecture (known: \(ModelRegistry.architectures.joined(separator: ", ")))")
        }
        let (resolved, seed) = try designInput(request)
        // Checked from the architecture's costs (FLOPs per image at 32 px, scaled by the area)
        // before any weight is drawn.
        if let cost = ArchitectureCost.of(architecture) {
            let flops = cost.flops(batch: resolved.batch!, size: resolved.size!) / 1e9
            guard flops <= SignalPropagationLimits.maxGigaFLOPs else {
                throw DiagnosticsRequestError(
                    "\(architecture) needs about \(Int(flops.rounded())) GFLOPs at batch \(resolved.batch!), \(resolved.size!) px; the limit maxGigaFLOPs is \(Int(SignalPropagationLimits.maxGigaFLOPs))"
                )
            }
        }
        let classifier = try ModelRegistry.build(
            architecture: architecture, numClasses: nil, modelArgs: [:],
            weights: WeightLoader(source: InitializerWeightSource(seed: seed)))
        let recorder = SignalPropagationRecorder()
        let normalized = classifier.normalizationKind != .normalizerFree
        let context = ForwardContext(observer: recorder, batchStatistics: normalized ? MomentsBatchStatistics() : nil)
        var input = resolved
        input.channels = classifier.inputChannels
        _ = try classifier.forward(
            gaussian(batch: input.batch!, channels: classifier.inputChannels, height: input.size!, width: input.size!, seed: seed),
            context: context)
        var notes = [
            "Weights from nfserve's seeded initializer (seed \(seed)): He-normal convs, norm scales 1, biases 0. "
                + "The gains timm initializes to 0 so that every residual branch starts silent (conv3.gain, skipinit_gain, the last BatchNorm scale with zero_init_last) are set to 1 for the plot."
        ]
        if normalized { notes.append("BatchNorm normalizes with the batch's own statistics (training mode), as at initialization.") }
        return SignalPropagationReport(
            model: architecture, architecture: nil, atInit: true, label: "\(architecture) (init)", input: input,
            blockOutput: blockOutputDescription(classifier), notes: notes, seconds: seconds(since: start),
            points: recorder.points(expectedVariances: expectedVariances(classifier)))
    }

    // MARK: inputs

    /// N(0, 1) noise `[batch, channels, height, width]`: value i (row-major) is
    /// `Float(SplitMix64(seed).nextNormal())`, the i-th draw.
    public static func gaussian(batch: Int, channels: Int, height: Int, width: Int, seed: UInt64) -> Tensor {
        var generator = SplitMix64(seed: seed)
        return Tensor(shape: [batch, channels, height, width]) { buffer in
            for i in buffer.indices { buffer[i] = Float(generator.nextNormal()) }
        }
    }

    /// The input for a served model and the request as resolved (size, channels, seed filled in).
    static func makeInput(
        _ request: SignalPropagationInput, pipeline: ModelPipeline,
        openDataset: (String) throws -> any ImageDataset
    ) throws -> (Tensor, SignalPropagationInput) {
        var resolved = request
        let channels = pipeline.inputSize[0]
        let batch = request.batch ?? 8
        resolved.channels = channels
        resolved.batch = batch
        switch request.source {
        case .gaussian:
            guard request.dataset == nil else { throw DiagnosticsRequestError("a dataset is named but the input source is gaussian") }
            let height = request.size ?? pipeline.inputSize[1], width = request.size ?? pipeline.inputSize[2]
            guard min(height, width) >= pipeline.minimumInputSize else {
                throw DiagnosticsRequestError("size must be at least \(pipeline.minimumInputSize) for \(pipeline.name), got \(min(height, width))")
            }
            try SignalPropagationLimits.checkInput(batch: batch, size: max(height, width))
            let seed = request.seed ?? 0
            resolved.seed = seed
            resolved.size = height == width ? height : nil
            return (gaussian(batch: batch, channels: channels, height: height, width: width, seed: seed), resolved)
        case .dataset:
            guard let name = request.dataset else { throw DiagnosticsRequestError("input source dataset needs a dataset name (input=dataset:NAME)") }
            guard request.size == nil, request.seed == nil else {
                throw DiagnosticsRequestError("size and seed apply to gaussian input; dataset images are preprocessed as for prediction")
            }
            try SignalPropagationLimits.checkInput(batch: batch, size: max(pipeline.inputSize[1], pipeline.inputSize[2]))
            let dataset = try openDataset(name)
            let count = min(batch, dataset.count)
            guard count > 0 else { throw DiagnosticsRequestError("dataset \"\(name)\" has no images") }
            let images = try (0..<count).map { try dataset.item($0, maxPixels: 40_000_000).image }
            resolved.batch = count
            resolved.size = pipeline.inputSize[1] == pipeline.inputSize[2] ? pipeline.inputSize[1] : nil
            return (pipeline.input(images: images), resolved)
        }
    }

    /// Gaussian input of a network at initialization: default size 64, seed 0.
    static func designInput(_ request: SignalPropagationInput) throws -> (SignalPropagationInput, UInt64) {
        guard request.source == .gaussian else {
            throw DiagnosticsRequestError("networks at initialization are measured on gaussian input only")
        }
        var resolved = request
        let size = request.size ?? 64
        resolved.batch = request.batch ?? 4
        guard size >= SignalPropagationLimits.minDesignSize else {
            throw DiagnosticsRequestError(
                "size must be at least \(SignalPropagationLimits.minDesignSize) (the last stage needs a pixel), got \(size)")
        }
        try SignalPropagationLimits.checkInput(batch: resolved.batch!, size: size)
        resolved.size = size
        resolved.seed = request.seed ?? 0
        resolved.channels = 3
        return (resolved, resolved.seed!)
    }

    // MARK: descriptions

    static func expectedVariances(_ classifier: any ImageClassifier) -> [Double]? {
        (classifier as? NormFreeNet).map { [1.0] + $0.expectedOutputVariances }
    }

    static func blockOutputDescription(_ classifier: any ImageClassifier) -> String {
        if classifier is ResNet {
            return "the sum of the residual branch and the shortcut, measured before the ReLU that follows the addition (post-activation ResNet)"
        }
        return "the sum of the residual branch (times skip gain and alpha) and the shortcut; no activation follows the addition"
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
