import NFCheckpoint
import NFImage
import NFLayers
import NFModels
import NFTensors

/// A loaded checkpoint and the path from encoded images to logits: decode (libjpeg-turbo,
/// libspng), preprocess as timm's eval transform does for its `pretrained_cfg`, run the network.
/// The server, `predict`, `eval` and the diagnostics all go through here. Immutable once built;
/// every method that computes is blocking (the server runs them on its compute pool).
public struct ModelPipeline: Sendable {
    public let loaded: LoadedModel
    public let preprocessing: Preprocessing
    /// Floating-point operations of one image at the configured input size.
    public let flops: Int
    /// The smallest height and width the network takes (FP32 inputs below it are refused).
    public let minimumInputSize: Int
    /// This version's identity: every pipeline built or derived (`replacing(classifier:)`) has
    /// its own, so a swap can check that the version it replaces is still the one serving.
    public let version = PipelineVersion()
    /// The network compiled for inference (`ExecutionPlan`), made once from its layers; nil for
    /// a family that has none (the layers run every pass).
    public let plan: (any ExecutionPlan)?
    /// How it is served, from its folder's `nfserve.json` (none: the server's defaults).
    public private(set) var settings = ModelSettings()
    /// The plan at a lower precision than FP32 that serves unobserved passes, when one was asked
    /// for; observed passes (the diagnostics, live estimation shift) run `plan`, in FP32.
    public private(set) var lowPrecision: LowPrecisionPlan?

    /// The arithmetic unobserved passes run in.
    public var precision: Precision { lowPrecision?.precision ?? .fp32 }

    public var name: String { loaded.name }
    public var classifier: any ImageClassifier { loaded.classifier }
    public var labels: [String] { loaded.labels }
    public var numClasses: Int { loaded.numClasses }
    /// `[C, H, W]` the network is fed, from `pretrained_cfg.input_size`.
    public var inputSize: [Int] { loaded.config.pretrainedCfg.inputSize }

    /// Loads and checks the checkpoint folder at `directory`, named `name` (else after the folder),
    /// at `precision` (else its `nfserve.json`'s, else FP32).
    public static func load(directory: String, name: String? = nil, precision: Precision? = nil) throws -> ModelPipeline {
        let settings = try ModelSettings.read(folder: directory)
        var pipeline = try ModelPipeline(loaded: CheckpointFolder.load(directory, name: name))
        pipeline.settings = settings
        let chosen = precision ?? settings.precision ?? .fp32
        if chosen != .fp32 { pipeline = try pipeline.at(chosen, calibration: Calibration.read(folder: directory)) }
        return pipeline
    }

    /// The same model served at `precision`; int8 needs `calibration` (`nfserve calibrate`).
    public func at(_ precision: Precision, calibration: Calibration?) throws -> ModelPipeline {
        var changed = self
        changed.lowPrecision = try LowPrecisionPlan(precision, calibration: calibration, classifier: classifier, model: name)
        return changed
    }

    public init(loaded: LoadedModel) throws {
        let cfg = loaded.config.pretrainedCfg
        self.loaded = loaded
        preprocessing = try Preprocessing(cfg)
        flops = try loaded.classifier.flops(height: cfg.inputSize[1], width: cfg.inputSize[2])
        minimumInputSize = Self.smallestInputSize(loaded.classifier, upTo: min(cfg.inputSize[1], cfg.inputSize[2]))
        plan = loaded.classifier.executionPlan()
    }

    /// The same pipeline over another network of the same shape (BatchNorm statistics swapped).
    public func replacing(classifier: any ImageClassifier) -> ModelPipeline {
        var replaced = ModelPipeline(
            loaded: loaded.replacing(classifier: classifier), preprocessing: preprocessing, flops: flops,
            minimumInputSize: minimumInputSize)
        replaced.settings = settings
        // The same calibration over the new weights (the same inputs, so the same ranges).
        replaced.lowPrecision = lowPrecision.flatMap {
            try? LowPrecisionPlan($0.precision, calibration: $0.calibration, classifier: classifier, model: name)
        }
        return replaced
    }

    /// Every field given (tests make a pipeline with a stricter minimum input size).
    init(loaded: LoadedModel, preprocessing: Preprocessing, flops: Int, minimumInputSize: Int) {
        self.loaded = loaded
        self.preprocessing = preprocessing
        self.flops = flops
        self.minimumInputSize = minimumInputSize
        plan = loaded.classifier.executionPlan()
    }

    /// The smallest square side a forward pass accepts (every convolution and pooling window
    /// fits), found by bisection between 1 and the configured input size, which works.
    private static func smallestInputSize(_ classifier: any ImageClassifier, upTo configured: Int) -> Int {
        func works(_ side: Int) -> Bool { (try? classifier.flops(height: side, width: side)) != nil }
        var (low, high) = (1, max(configured, 1))
        while low < high {
            let middle = (low + high) / 2
            if works(middle) { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Decodes the encoded images and preprocesses them into one `[N, C, H, W]` batch.
    ///
    /// Each image is shrunk to the input size before the next is decoded, so a request with many
    /// large images holds one full-size image at a time. With several images, a broken one is
    /// reported as an `EncodedImageError` naming it.
    public func input(encodedImages: [UploadedImage], maxPixels: Int) throws -> Tensor {
        var batch: [Float] = []
        for (index, upload) in encodedImages.enumerated() {
            let image: Image8
            do {
                image = try ImageDecoder.decode(upload.bytes, maxPixels: maxPixels)
            } catch let error as ImageError where encodedImages.count > 1 {
                throw EncodedImageError(image: upload.filename ?? "image \(index)", error: error)
            }
            batch += preprocessing(image).storage
        }
        return Tensor(shape: [encodedImages.count, preprocessing.channels, preprocessing.height, preprocessing.width], storage: batch)
    }

    /// Decoded images preprocessed into one `[N, C, H, W]` batch.
    public func input(images: [Image8]) -> Tensor {
        preprocessing.batch(images)
    }

    /// Decodes, preprocesses and classifies the images as one batch: `[N, numClasses]` logits.
    public func logits(encodedImages: [UploadedImage], maxPixels: Int, context: ForwardContext = ForwardContext()) throws -> Tensor {
        try logits(input: input(encodedImages: encodedImages, maxPixels: maxPixels), context: context)
    }

    /// `[N, C, H, W]` preprocessed input to `[N, numClasses]` logits; a diagnostic listens
    /// through `context`. Runs the execution plan when the context allows it, else the layers;
    /// with the OpenMP threads `computeThreads` chooses for this work.
    public func logits(input: Tensor, context: ForwardContext = ForwardContext()) throws -> Tensor {
        let threads = computeThreads(images: input.shape[0])
        setComputeThreads(threads)
        defer { setComputeThreads(0) }
        if let plan, context.allowsExecutionPlan, input.maxAbs <= Self.planInputBound {
            // Only a pass on every core offers its step boundaries: a one-thread pass is short
            // (under `singleThreadFlops`) and leaves the other cores to decoding. A pass run at a
            // boundary sets its own threads: this one's are set again after.
            let boundary =
                threads == 1
                ? nil
                : context.stepBoundary.map { boundary in
                    {
                        boundary()
                        setComputeThreads(threads)
                    }
                }
            // Observed passes see FP32 activations; the others run at the served precision.
            let chosen = context.observer == nil ? lowPrecision?.plan ?? plan : plan
            return try chosen.logits(input, observer: context.observer, stepBoundary: boundary)
        }
        return try classifier.forward(input, context: context)
    }

    /// Inputs with a larger magnitude (never a preprocessed image; only an FP32 request can
    /// send one) run on the layers: an overflow inside the network must come out as non-finite
    /// logits, as in PyTorch, and oneDNN's fused kernels may turn its NaN into a finite number.
    public static let planInputBound: Float = 1e4

    /// Work below this many floating-point operations runs on one thread, leaving the other
    /// core to HTTP and decoding. Alone, two threads are faster even for fmnist-resnet-bn at
    /// batch 1 (0.13 against 0.19 ms); served under load, one is: 4,725 against 3,597 requests/s
    /// at 32 clients, 1,456 against 729 at one (`tools/bench/load.sh`, docs/performance.md).
    /// A 1 GFLOP pass takes about 10 ms on one core; resnet50's 8 GFLOP per image take both.
    public static let singleThreadFlops = 1_000_000_000

    /// The OpenMP threads for a forward pass over `images` images at the configured size: one
    /// for small work, every core (0) otherwise.
    public func computeThreads(images: Int) -> Int { Self.computeThreads(flops: flops * images) }

    /// The OpenMP threads for a forward pass of `flops` operations (0: every core).
    public static func computeThreads(flops: Int) -> Int { flops < singleThreadFlops ? 1 : 0 }
}

/// The identity of one version of a pipeline (compared with `===`).
public final class PipelineVersion: Sendable {
    init() {}
}

/// One image of several could not be decoded: which one, and why.
public struct EncodedImageError: Error, CustomStringConvertible, Sendable {
    /// The part's filename, or "image N" (0-based) when it had none.
    public let image: String
    public let error: ImageError
    public var description: String { "\(image): \(error.description)" }
}

/// A model's execution plan at a precision below FP32, with what it was made from.
public struct LowPrecisionPlan: Sendable {
    public let precision: Precision
    /// What an int8 plan was made from; nil for bf16.
    public let calibration: Calibration?
    public let plan: any ExecutionPlan

    /// Refuses what cannot be served, with a message that says what to do.
    public init(_ precision: Precision, calibration: Calibration?, classifier: any ImageClassifier, model: String) throws {
        switch precision {
        case .fp32:
            throw CalibrationError("FP32 is served by the model's own plan")
        case .bf16:
            guard BFloat16Convolution.isAvailable else {
                throw CalibrationError(
                    "bf16 is not available on this CPU: oneDNN 2.6 has bf16 convolutions only where the CPU has AVX-512 (native with AVX512_BF16)"
                )
            }
            guard let plan = classifier.executionPlan(precision: .bf16) else {
                throw CalibrationError("\(model): \(classifier.architecture) has no execution plan to compile to bf16")
            }
            self.plan = plan
        case .int8:
            guard let calibration else {
                throw CalibrationError(
                    "\(model): int8 needs calibration data; run `nfserve calibrate --model DIR --dataset NAME` (it writes \(Calibration.fileName) into the folder)"
                )
            }
            guard let plan = classifier.executionPlan(precision: .int8(calibration)) else {
                throw CalibrationError("\(model): \(classifier.architecture) has no execution plan to compile to int8")
            }
            self.plan = plan
        }
        self.precision = precision
        // Only int8 is made from a calibration (a bf16 model's folder may hold one for int8).
        self.calibration = precision == .int8 ? calibration : nil
    }
}
