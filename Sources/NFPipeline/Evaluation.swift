import NFDatasets
import NFImage
import NFModels
import NFTensors

/// Top-1 / top-5 accuracy of a classifier over a labelled dataset, with the model's own
/// preprocessing, in batches.
public struct EvaluationResult: Sendable, Codable, Equatable {
    public let model: String
    public let dataset: String
    public let images: Int
    public let top1: Double
    public let top5: Double
}

public enum Evaluation {
    /// Runs `model` over the first `limit` images of `dataset` (all when nil). `predictions`, if
    /// given, receives each image's top-1 class in order; `progress` is told (done, total).
    public static func run(
        model: ModelPipeline, dataset: any ImageDataset, limit: Int? = nil, batchSize: Int = 64,
        maxPixels: Int = 40_000_000, progress: (Int, Int) -> Void = { _, _ in },
        predictions: ((Int) -> Void)? = nil
    ) throws -> EvaluationResult {
        guard dataset.isLabelled else { throw DatasetError("dataset \"\(dataset.name)\" has no labels to evaluate against") }
        let total = min(limit ?? dataset.count, dataset.count)
        var correct = Correct(), done = 0
        while done < total {
            let end = min(done + batchSize, total)
            correct += try self.correct(model: model, dataset: dataset, images: done..<end, maxPixels: maxPixels, predictions: predictions)
            done = end
            progress(done, total)
        }
        return EvaluationResult(
            model: model.name, dataset: dataset.name, images: total,
            top1: total == 0 ? 0 : Double(correct.top1) / Double(total),
            top5: total == 0 ? 0 : Double(correct.top5) / Double(total))
    }

    /// Images whose label is the top-1 class, and among the top 5.
    public struct Correct: Sendable, Equatable {
        public var top1 = 0
        public var top5 = 0
        public init() {}
        public static func += (lhs: inout Correct, rhs: Correct) {
            lhs.top1 += rhs.top1
            lhs.top5 += rhs.top5
        }
    }

    /// Runs `model` over `images` of `dataset` as one batch (a caller that must stop between
    /// batches, a served recalibration, calls it batch by batch).
    public static func correct(
        model: ModelPipeline, dataset: any ImageDataset, images indices: Range<Int>, maxPixels: Int = 40_000_000,
        predictions: ((Int) -> Void)? = nil
    ) throws -> Correct {
        guard dataset.isLabelled else { throw DatasetError("dataset \"\(dataset.name)\" has no labels to evaluate against") }
        let map = labelMapping(datasetClasses: dataset.classNames, modelLabels: model.labels)
        var images: [Image8] = [], labels: [Int?] = []
        for i in indices {
            let (image, label) = try dataset.item(i, maxPixels: maxPixels)
            images.append(image)
            labels.append(label.flatMap(map))
        }
        guard !images.isEmpty else { return Correct() }
        let logits = try model.logits(input: model.input(images: images))
        let k = logits.shape[1]
        var correct = Correct()
        for (row, label) in labels.enumerated() {
            let scores = logits.storage[(row * k)..<((row + 1) * k)]
            // Ties broken by the lower index, as torch.topk on CPU does in practice.
            let ranked = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.map { $0 - row * k }
            predictions?(ranked[0])
            guard let label else { continue }
            if ranked[0] == label { correct.top1 += 1 }
            if ranked.prefix(5).contains(label) { correct.top5 += 1 }
        }
        return correct
    }
}
