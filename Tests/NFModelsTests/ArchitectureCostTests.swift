import Testing

@testable import NFModels

/// `ArchitectureCost.table` against builds: the table covers every registered architecture, and
/// its entries for the small ones are what building them gives now (the big NFNets are checked
/// by regenerating the table with `nfserve architectures --costs`, which builds them all in about
/// 35 s of a release build). Parameter counts are timm's (`sum(p.numel() for p in
/// model.parameters())`): dm_nfnet_f0 71,489,284, dm_nfnet_f6 438,359,116, resnet50 25,557,032.
@Suite struct ArchitectureCostTests {
    @Test func everyRegisteredArchitectureHasCosts() {
        let missing = ModelRegistry.architectures.filter { ArchitectureCost.of($0) == nil }
        #expect(missing.isEmpty, "regenerate ArchitectureCost+Table.swift: \(missing)")
    }

    @Test(arguments: ["resnet18", "resnet26d", "nf_resnet26", "nf_regnet_b0", "test_nfnet"])
    func tableEqualsABuild(_ architecture: String) throws {
        #expect(try ArchitectureCost.measure(architecture: architecture) == ArchitectureCost.of(architecture))
    }

    @Test func timmsParameterCounts() {
        #expect(ArchitectureCost.of("resnet50")?.parameters == 25_557_032)
        #expect(ArchitectureCost.of("dm_nfnet_f0")?.parameters == 71_489_284)
        #expect(ArchitectureCost.of("dm_nfnet_f6")?.parameters == 438_359_116)
    }

    /// The estimate at initialization covers what dm_nfnet_f6's request was measured to take
    /// (4.19 GB peak resident, batch 4 at 64 px) and scales with the input.
    @Test func estimateCoversTheMeasuredPeak() throws {
        let cost = try #require(ArchitectureCost.of("dm_nfnet_f6"))
        #expect(cost.bytesAtInitialization(batch: 4, size: 64) > 4_190_000_000)
        #expect(cost.bytesAtInitialization(batch: 16, size: 256) > cost.bytesAtInitialization(batch: 4, size: 64))
        #expect(abs(cost.flops(batch: 2, size: 64) - 8 * Double(cost.flopsPerImageAt32)) < 1)
    }
}
