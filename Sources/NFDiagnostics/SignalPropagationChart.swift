import NFPlot

/// The NF-ResNet paper's three panels for one or several runs (overlaid, one colour each):
/// average channel squared mean, average channel variance and residual variance against the
/// block index, stage boundaries marked, each point's values in its tooltip, and for
/// normalizer-free networks the analytic expected variance as a dashed line.
public enum SignalPropagationChart {
    public static func figure(_ reports: [SignalPropagationReport]) -> Figure {
        let labels = uniqueLabels(reports)
        func series(_ value: (SignalPropagationPoint) -> Double?, _ what: String) -> [Series] {
            zip(reports, labels).map { report, label in
                Series(
                    name: label,
                    points: report.points.map { point in
                        let y = value(point)
                        return DataPoint(
                            x: Double(point.index), y: y,
                            label: "\(label) \(point.name) (\(point.index)): \(what) \(y.map { NumberFormatting.format($0) } ?? "none")")
                    })
            }
        }
        var variance = series({ $0.averageChannelVariance }, "avg channel var")
        for (report, label) in zip(reports, labels) where report.points.contains(where: { $0.expectedVariance != nil }) {
            variance.append(
                Series(
                    name: "\(label) expected", dashed: true, showPoints: false,
                    points: report.points.map {
                        DataPoint(x: Double($0.index), y: $0.expectedVariance)
                    }))
        }
        let markers = stageMarkers(reports.first?.points ?? [])
        let title = reports.count == 1 ? "Signal propagation: \(labels[0])" : "Signal propagation"
        return Figure(
            title: title,
            panels: [
                Panel(
                    title: "Average channel squared mean", xLabel: "block", yLabel: "avg. channel squared mean",
                    series: series({ $0.averageSquaredChannelMean }, "avg sq channel mean"), markers: markers, xIntegerTicks: true),
                Panel(
                    title: "Average channel variance", xLabel: "block", yLabel: "avg. channel variance",
                    series: variance, markers: markers, xIntegerTicks: true),
                Panel(
                    title: "Residual branch variance", xLabel: "block", yLabel: "residual variance",
                    series: series({ $0.residualVariance }, "residual var"), markers: markers, xIntegerTicks: true),
            ])
    }

    public static func svg(_ reports: [SignalPropagationReport]) -> String {
        SVGRenderer.render(figure(reports))
    }

    /// A vertical line at the first block of every stage.
    static func stageMarkers(_ points: [SignalPropagationPoint]) -> [Marker] {
        var markers: [Marker] = []
        var previous: Int?
        for point in points {
            guard let stage = point.stage, stage != previous else { continue }
            markers.append(Marker(x: Double(point.index), label: "stage \(stage + 1)"))
            previous = stage
        }
        return markers
    }

    /// Legend names: each report's label, numbered where two runs share one.
    static func uniqueLabels(_ reports: [SignalPropagationReport]) -> [String] {
        var seen: [String: Int] = [:]
        return reports.map { report in
            let count = (seen[report.label] ?? 0) + 1
            seen[report.label] = count
            return count == 1 ? report.label : "\(report.label) #\(count)"
        }
    }
}
