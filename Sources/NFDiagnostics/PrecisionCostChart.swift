import NFPlot

/// A precision report as a chart: the signal-to-quantization-noise ratio (dB) and the relative
/// error at the stem and at each block's output, in network order.
public enum PrecisionCostChart {
    public static func figure(_ report: PrecisionReport) -> Figure {
        let label = "\(report.model) \(report.precision) vs fp32"
        func series(_ value: (Comparison) -> Double?, _ what: String) -> [Series] {
            [
                Series(
                    name: label,
                    points: report.sites.map { site in
                        let y = value(site.error)
                        return DataPoint(
                            x: Double(site.index), y: y,
                            label: "\(site.name) (\(site.index)): \(what) \(y.map { NumberFormatting.format($0) } ?? "exact")")
                    })
            ]
        }
        return Figure(
            title:
                "What \(report.precision) costs: \(report.model) (logits: top-1 agreement \(NumberFormatting.format(report.logits.top1Agreement)))",
            panels: [
                Panel(
                    title: "Signal to quantization noise", xLabel: "block (0 = stem)", yLabel: "SQNR (dB)",
                    yScale: .linear, series: series(\.sqnrDb, "SQNR dB"), markers: [], xIntegerTicks: true),
                Panel(
                    title: "Relative error", xLabel: "block (0 = stem)", yLabel: "||x8 - x|| / ||x||",
                    yScale: .log, series: series({ $0.relativeError > 0 ? $0.relativeError : nil }, "relative error"), markers: [],
                    xIntegerTicks: true),
            ])
    }

    public static func svg(_ report: PrecisionReport) -> String { SVGRenderer.render(figure(report)) }
}
