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

    /// For each row of `[N, K]` `values`, the `k` largest as (index, value), largest first, ties
    /// by the lower index. Every response ranks its row: one pass over it keeping the best `k`
    /// in order, instead of sorting all of it (a 1000-class row, k = 5: 30 us for the sort, 1.3
    /// for the pass, a standalone -O measurement); the whole row is sorted when `k` is a large
    /// share of it, where keeping them in order would cost more.
    public static func ranked(_ values: Tensor, k: Int) -> [[(index: Int, value: Float)]] {
        let (rows, classes) = (values.shape[0], values.shape[1])
        let k = min(max(k, 0), classes)
        return values.storage.withUnsafeBufferPointer { all in
            (0..<rows).map { row in
                let slice = UnsafeBufferPointer(rebasing: all[(row * classes)..<((row + 1) * classes)])
                func precedes(_ a: Int, _ b: Int) -> Bool { slice[a] != slice[b] ? slice[a] > slice[b] : a < b }
                var top: [Int] = []
                if k * 16 >= classes {
                    top = Array((0..<classes).sorted(by: precedes).prefix(k))
                } else if k > 0 {
                    top.reserveCapacity(k + 1)
                    for i in 0..<classes {
                        if top.count == k, !precedes(i, top[k - 1]) { continue }
                        var position = top.count
                        while position > 0, precedes(i, top[position - 1]) { position -= 1 }
                        top.insert(i, at: position)
                        if top.count > k { top.removeLast() }
                    }
                }
                return top.map { (index: $0, value: slice[$0]) }
            }
        }
    }

    /// `?topk=` clamped to 1...K; 5 (or K when smaller) when absent.
    public func topK(_ requested: Int?) -> Int {
        min(max(requested ?? 5, 1), numClasses)
    }
}
