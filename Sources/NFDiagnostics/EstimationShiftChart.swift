import NFPlot

/// Per-layer `esm_mean` and `esm_var` against the layer's position among the normalization
/// layers, one series per report (several models overlaid), on log axes (shifts span orders of
/// magnitude; a recalibrated layer's is near 0), GroupNorm positions marked.
public enum EstimationShiftChart {
    public static func figure(_ reports: [EstimationShiftReport]) -> Figure {
        let labels = reports.map { report in
            report.source == "live" ? "\(report.model) (live)" : "\(report.model) on \(report.dataset ?? "dataset")"
        }
        func series(_ value: (EstimationShiftLayer) -> Double?, _ what: String) -> [Series] {
            zip(reports, labels).map { report, label in
                Series(
                    name: label,
                    points: report.layers.map { layer in
                        let y = value(layer)
                        return DataPoint(
                            x: Double(layer.index), y: y,
                            label:
                                "\(label) \(layer.name) (\(layer.index), \(layer.kind)): \(what) \(y.map { NumberFormatting.format($0) } ?? "none")")
                    })
            }
        }
        var markers: [Marker] = []
        for report in reports {
            for layer in report.layers where layer.kind == "groupnorm" && !markers.contains(where: { $0.x == Double(layer.index) }) {
                markers.append(Marker(x: Double(layer.index), label: "GN", style: .highlight))
            }
        }
        let title = reports.count == 1 ? "Estimation shift: \(labels[0])" : "Estimation shift"
        return Figure(
            title: title,
            panels: [
                Panel(
                    title: "Mean shift (esm_mean)", xLabel: "normalization layer", yLabel: "esm_mean (l2 over channels)",
                    yScale: .log, series: series(\.esmMean, "esm_mean"), markers: markers, xIntegerTicks: true),
                Panel(
                    title: "Variance shift (esm_var)", xLabel: "normalization layer", yLabel: "esm_var (l2 over channels)",
                    yScale: .log, series: series(\.esmVar, "esm_var"), markers: markers, xIntegerTicks: true),
            ])
    }

    public static func svg(_ reports: [EstimationShiftReport]) -> String {
        SVGRenderer.render(figure(reports))
    }
}
