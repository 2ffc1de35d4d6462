import Testing

@testable import NFPlot

@Suite struct NumberFormattingTests {
    @Test func significantDigits() {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "0"), (0.5, "0.5"), (1.25, "1.25"), (-2.5, "-2.5"), (1e-5, "1e-5"),
            (12000, "12000"), (0.001, "0.001"), (0.0001234, "1.234e-4"), (1234567, "1.235e6"),
            (3.14159265, "3.142"), (9.99996, "10"), (999_999.9, "1e6"), (0.30000000000000004, "0.3"),
            (2.5e-7, "2.5e-7"), (1e300, "1e300"), (.leastNonzeroMagnitude, "4.941e-324"), (-1e-12, "-1e-12"),
        ]
        for (value, text) in cases {
            #expect(NumberFormatting.format(value) == text, "\(value)")
        }
        #expect(NumberFormatting.format(1000.25, significantDigits: 10) == "1000.25")
        #expect(NumberFormatting.format(-1e-20, significantDigits: 2) == "-1e-20")
    }

    @Test func nonFiniteValuesGiveNoText() {
        #expect(NumberFormatting.format(.nan) == "")
        #expect(NumberFormatting.format(-.infinity) == "")
    }

    @Test func coordinatesHaveTwoDecimalsAtMost() {
        let cases: [(Double, String)] = [
            (7, "7"), (12.3456, "12.35"), (-3.5, "-3.5"), (-0.001, "0"), (0.05, "0.05"), (-0.0, "0"), (100.999, "101"),
        ]
        for (value, text) in cases {
            #expect(NumberFormatting.coordinate(value) == text, "\(value)")
        }
    }
}
