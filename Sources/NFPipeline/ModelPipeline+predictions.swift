import NFTensors

/// One class of a prediction, as docs/api.md's prediction response lists them.
public struct Prediction: Codable, Sendable, Equatable {
    public let index: Int
    public let label: String
    public let probability: Float
}

extension ModelPipeline {
    /// The `k` most probable classes of each row of `logits` `[N, K]`, best first (ties by index).
    public func topPredictions(logits: Tensor, k: Int) -> [[Prediction]] {
        let probabilities = softmax(logits)
        return Self.ranked(probabilities, k: k).map { row in
            row.map { Prediction(index: $0.index, label: labels[$0.index], probability: $0.value) }
        }
    }

    /// For each row of `[N, K]` `values`, the `k` largest as (index, value), largest first.
    public static func ranked(_ values: Tensor, k: Int) -> [[(index: Int, value: Float)]] {
        let (rows, classes) = (values.shape[0], values.shape[1])
        return (0..<rows).map { row in
            let slice = values.storage[(row * classes)..<((row + 1) * classes)]
            let order = slice.indices.sorted { a, b in
                slice[a] != slice[b] ? slice[a] > slice[b] : a < b
            }
            return order.prefix(k).map { (index: $0 - row * classes, value: slice[$0]) }
        }
    }

    /// `?topk=` clamped to 1...K; 5 (or K when smaller) when absent.
    public func topK(_ requested: Int?) -> Int {
        min(max(requested ?? 5, 1), numClasses)
    }
}
