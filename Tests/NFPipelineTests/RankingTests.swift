import NFTensors
import Testing

@testable import NFPipeline

/// `ModelPipeline.ranked` (top-k of each row, largest first, ties by the lower index) against
/// sorting the whole row, on both of its paths (a pass keeping the best k, a full sort when k
/// is a large share of the row), with many ties.
@Suite struct RankingTests {
    static func sortedTop(_ row: [Float], k: Int) -> [Int] {
        Array(row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k))
    }

    @Test(arguments: [1000, 37])
    func ranksAsSortingTheRowDoes(classes: Int) {
        var state: UInt64 = 17
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        // 3 rows; values from 50 levels, so most have ties.
        let storage = (0..<(3 * classes)).map { _ in Float(Int(next() % 50) - 25) / 8 }
        let values = Tensor(shape: [3, classes], storage: storage)
        for k in [0, 1, 2, 5, 10, classes / 16, classes / 16 + 1, classes / 2, classes, classes + 3] {
            let ranked = ModelPipeline.ranked(values, k: k)
            #expect(ranked.count == 3)
            for (row, top) in ranked.enumerated() {
                let slice = Array(storage[(row * classes)..<((row + 1) * classes)])
                #expect(top.map(\.index) == Self.sortedTop(slice, k: k), "k = \(k), row \(row)")
                #expect(top.map(\.value) == top.map { slice[$0.index] })
            }
        }
    }
}
