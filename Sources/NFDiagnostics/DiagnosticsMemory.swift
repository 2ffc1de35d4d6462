import NFLayers
import NFModels
import NFPipeline
import NFTensors

/// Bytes a signal-propagation run allocates at most beyond what the process already holds,
/// estimated before it allocates anything: a server admits the run only when they fit.
extension SignalPropagationRun {
    /// `servedModel`: the served model's pipeline, for a run on one (its weights are resident
    /// already; its activations are counted by a pass of one image at 32 px).
    public func estimatedBytes(servedModel: ModelPipeline? = nil) throws -> Int {
        switch kind {
        case let .design(design):
            let (resolved, _) = try SignalPropagation.designInput(input)
            return DesignNetwork(design: try design.validated(), seed: 0).estimatedBytes(batch: resolved.batch!, size: resolved.size!)
        case let .initializedArchitecture(name):
            let (resolved, _) = try SignalPropagation.designInput(input)
            guard let cost = ArchitectureCost.of(name) else { return 0 }  // unknown: refused when it runs
            return cost.bytesAtInitialization(batch: resolved.batch!, size: resolved.size!)
        case .servedModel:
            guard let pipeline = servedModel else { return 0 }
            let height = input.size ?? pipeline.inputSize[1], width = input.size ?? pipeline.inputSize[2]
            // The request's limits first (`check()` tests them only when both are given).
            try SignalPropagationLimits.checkInput(batch: input.batch ?? 8, size: max(height, width))
            return try pipeline.passBytes(batch: input.batch ?? 8, height: height, width: width)
        }
    }
}

extension ModelPipeline {
    /// Bytes a pass of `batch` images allocates beyond the resident weights: four of its largest
    /// activations (a block's input, branch, shortcut and output, the largest counted by a pass
    /// of one image at 32 px and scaled by the area) and the input.
    public func passBytes(batch: Int, height: Int? = nil, width: Int? = nil) throws -> Int {
        let height = height ?? inputSize[1], width = width ?? inputSize[2]
        let probe = max(32, minimumInputSize)
        let context = ForwardContext()
        _ = try classifier.forward(Tensor(shape: [1, classifier.inputChannels, probe, probe]), context: context)
        let perImage = Double(context.largestActivation) * Double(height) * Double(width) / Double(probe * probe)
        let input = Double(batch) * Double(inputSize[0]) * Double(height) * Double(width) * 4
        return saturatingBytes(perImage * Double(batch) * 4 * 4 + input)
    }

    /// Bytes an estimation-shift pass over a dataset allocates: one batch of `batchSize` at a time.
    public func estimationShiftPassBytes(batchSize: Int = EstimationShift.defaultBatchSize) throws -> Int {
        try passBytes(batch: batchSize)
    }

    /// Bytes a recalibration on `images` images allocates: the preprocessed images it holds, a
    /// batch's pass, and a copy of the network (its new statistics, counted as all its weights).
    public func recalibrationBytes(images: Int, batchSize: Int = EstimationShift.defaultBatchSize) throws -> Int {
        saturatingBytes(
            Double(images) * Double(inputSize.reduce(4, *)) + Double(try passBytes(batch: batchSize))
                + Double(classifier.parameterCount) * 4)
    }
}

/// A byte count computed in Double, as an Int that cannot overflow (a request's sizes are
/// estimated before they are checked against everything).
func saturatingBytes(_ bytes: Double) -> Int {
    guard bytes.isFinite else { return .max }
    return bytes >= Double(Int.max) ? .max : max(0, Int(bytes))
}

extension DesignNetwork {
    /// Four of the largest activations of `batch` images (a block's input, branch, shortcut
    /// and output), plus the largest layer's weights twice (drawn, then standardized): the
    /// network holds one layer's weights at a time.
    func estimatedBytes(batch: Int, size: Int) -> Int {
        var largest = 0, largestWeights = 0
        for c in convolutions(size: size) {
            largest = max(largest, c.inC * c.inSide * c.inSide, c.outC * c.outSide * c.outSide)
            largestWeights = max(largestWeights, c.inC * c.outC * c.k * c.k)
        }
        return (largest * batch * 4 + largestWeights * 2) * 4
    }
}
