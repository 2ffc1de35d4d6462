import Testing

@testable import NFPlot

@Suite struct TicksTests {
    /// Ticks ascending, inside the range, evenly spaced by a 1, 2, 2.5 or 5 x 10^k step.
    static func checkNice(_ axis: AxisRange, sourceLocation: SourceLocation = #_sourceLocation) {
        let ticks = axis.ticks
        #expect(axis.lower < axis.upper, sourceLocation: sourceLocation)
        #expect(ticks.allSatisfy { axis.lower <= $0 && $0 <= axis.upper }, sourceLocation: sourceLocation)
        #expect((4...8).contains(ticks.count), "\(ticks)", sourceLocation: sourceLocation)
        guard ticks.count >= 2 else { return }
        let step = ticks[1] - ticks[0]
        for (a, b) in zip(ticks, ticks.dropFirst()) {
            #expect(abs((b - a) - step) <= step * 1e-9, sourceLocation: sourceLocation)
        }
        var mantissa = step
        while mantissa >= 10 { mantissa /= 10 }
        while mantissa < 1 { mantissa *= 10 }
        #expect([1.0, 2, 2.5, 5, 10].contains { abs($0 - mantissa) < 1e-9 }, "step \(step)", sourceLocation: sourceLocation)
    }

    @Test func unitRange() {
        let axis = Ticks.linear(0...1)
        #expect(axis.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(axis.lower < 0 && axis.upper > 1)
        Self.checkNice(axis)
    }

    @Test func zeroToThirtyFour() {
        let axis = Ticks.linear(0...34)
        #expect(axis.ticks == [0, 5, 10, 15, 20, 25, 30, 35])
        Self.checkNice(axis)
    }

    @Test func quarterSteps() {
        let axis = Ticks.linear(0.68...2.1)
        #expect(axis.ticks == [0.75, 1, 1.25, 1.5, 1.75, 2])
        Self.checkNice(axis)
    }

    @Test func negativeRanges() {
        let negative = Ticks.linear(-3...(-1))
        #expect(negative.ticks == [-3, -2.5, -2, -1.5, -1])
        Self.checkNice(negative)
        let symmetric = Ticks.linear(-0.5...0.5)
        #expect(symmetric.ticks.contains(0))
        Self.checkNice(symmetric)
        Self.checkNice(Ticks.linear(-1234...(-1200)))
    }

    @Test func decimalTicksAreExactDecimals() {
        let axis = Ticks.linear(0...0.7)
        #expect(axis.ticks.contains(0.3))
        #expect(axis.ticks.map { NumberFormatting.format($0, significantDigits: 10) } == ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"])
    }

    @Test func degenerateAndEmptyRanges() {
        let single = Ticks.linear(3...3)
        #expect(single.lower < 3 && 3 < single.upper)
        #expect(single.ticks.contains(3))
        Self.checkNice(single)
        let zero = Ticks.linear(0...0)
        #expect(zero.lower < 0 && 0 < zero.upper)
        Self.checkNice(zero)
        let empty = Ticks.linear(nil)
        #expect(empty.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        let tiny = Ticks.linear(1e-300...1e-300)
        #expect(tiny.lower < tiny.upper)
    }

    @Test func integerTicks() {
        #expect(Ticks.linear(0...200, integersOnly: true).ticks == [0, 50, 100, 150, 200])
        #expect(Ticks.linear(0...3, integersOnly: true).ticks == [0, 1, 2, 3])
        #expect(Ticks.linear(0...12, integersOnly: true).ticks == [0, 2, 4, 6, 8, 10, 12])
        let single = Ticks.linear(5...5, integersOnly: true)
        #expect(single.ticks == [4, 5, 6])
        for upper in [1.0, 2, 5, 7, 11, 26, 49, 99, 1000] {
            let ticks = Ticks.linear(0...upper, integersOnly: true).ticks
            #expect(!ticks.isEmpty && ticks.allSatisfy { $0 == $0.rounded() }, "0...\(upper): \(ticks)")
        }
    }

    @Test func logTicksAtPowersOfTen() {
        let axis = Ticks.logarithmic(1e-5...10)
        #expect(axis.scale == .log)
        #expect(axis.ticks == [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10])
        #expect(axis.fraction(of: 1e-5)! > 0 && axis.fraction(of: 10)! < 1)
        #expect(axis.fraction(of: 0) == nil && axis.fraction(of: -1) == nil)
    }

    @Test func logRangeInsideOneDecadeWidensToItsDecades() {
        let axis = Ticks.logarithmic(2...8)
        #expect(axis.ticks == [1, 10])
        #expect(axis.fraction(of: 1) == 0 && axis.fraction(of: 10) == 1)
        #expect(Ticks.logarithmic(1...1).ticks == [0.1, 1, 10])
        #expect(Ticks.logarithmic(nil).ticks == [1, 10])
    }

    @Test func logRangeOverManyDecadesThinsItsTicks() {
        let ticks = Ticks.logarithmic(1e-30...1e30).ticks
        #expect((2...8).contains(ticks.count), "\(ticks)")
        #expect(ticks.contains(1))
    }
}
