/// One panel laid out in its cell: the axis ranges and the plot area, in pixels from the
/// cell's top-left corner.
struct PanelRenderer {
    let panel: Panel
    let width: Double
    let height: Double
    let xAxis: AxisRange
    let yAxis: AxisRange
    let xTickLabels: [String]
    let yTickLabels: [String]
    let plotLeft: Double
    let plotRight: Double
    let plotTop = Layout.plotTop
    let plotBottom: Double

    /// Digits a tick label keeps: enough for any nice tick, few enough to hide rounding noise.
    static let tickDigits = 10
    /// Digits a tooltip keeps.
    static let tooltipDigits = 4
    /// Baseline of the rotated y label, from the cell's left edge.
    static let yLabelBaseline = 14.0
    /// Rows of marker labels at the top of the plot area.
    static let markerLabelRows = 3

    init(_ panel: Panel, width: Double, height: Double) {
        self.panel = panel
        self.width = width
        self.height = height
        let points = panel.series.flatMap(\.points).filter { isPlottable($0.x, on: .linear) }
        let ys = points.compactMap(\.y).filter { isPlottable($0, on: panel.yScale) }
        xAxis = Ticks.linear(Self.range(points.map(\.x)), integersOnly: panel.xIntegerTicks)
        yAxis = panel.yScale == .log ? Ticks.logarithmic(Self.range(ys)) : Ticks.linear(Self.range(ys))
        xTickLabels = xAxis.ticks.map { NumberFormatting.format($0, significantDigits: Self.tickDigits) }
        yTickLabels = yAxis.ticks.map { NumberFormatting.format($0, significantDigits: Self.tickDigits) }
        let widestYLabel = yTickLabels.map { Layout.textWidth($0, fontSize: Layout.tickLabelFontSize) }.max() ?? 0
        plotLeft = Self.yLabelBaseline + 6 + widestYLabel + Layout.tickLabelGap + Layout.tickLength
        let lastXLabelHalf = Layout.textWidth(xTickLabels.last ?? "", fontSize: Layout.tickLabelFontSize) / 2
        plotRight = max(width - max(12, lastXLabelHalf + 4), plotLeft + 20)
        plotBottom = max(height - Layout.plotBottomMargin, plotTop + 20)
    }

    /// Writes the panel, its cell's top-left corner at (`x`, `y`) of the figure. Series take
    /// colour, dash and `data-index` from their name's legend entry.
    func write(x: Double, y: Double, entries: [String: LegendEntry], into svg: inout SVGWriter) {
        svg.open("g", ["class": "panel", "transform": "translate(\(svgNumber(x)),\(svgNumber(y)))"])
        svg.element(
            "text",
            [
                "class": "text panel-title", "x": svgNumber((plotLeft + plotRight) / 2), "y": "17", "text-anchor": "middle",
            ], text: panel.title)
        writeGrid(into: &svg)
        svg.element(
            "rect",
            [
                "class": "frame", "x": svgNumber(plotLeft), "y": svgNumber(plotTop),
                "width": svgNumber(plotRight - plotLeft), "height": svgNumber(plotBottom - plotTop),
            ])
        writeXAxis(into: &svg)
        writeYAxis(into: &svg)
        writeMarkers(into: &svg)
        for series in panel.series {
            if let entry = entries[series.name] { writeSeries(series, entry: entry, into: &svg) }
        }
        svg.close("g")
    }

    /// The smallest range holding `values`, nil when there are none.
    private static func range(_ values: [Double]) -> ClosedRange<Double>? {
        guard let lower = values.min(), let upper = values.max() else { return nil }
        return lower...upper
    }

    private func pixelX(_ value: Double) -> Double? {
        xAxis.fraction(of: value).map { plotLeft + $0 * (plotRight - plotLeft) }
    }

    private func pixelY(_ value: Double) -> Double? {
        yAxis.fraction(of: value).map { plotBottom - $0 * (plotBottom - plotTop) }
    }

    private func writeGrid(into svg: inout SVGWriter) {
        svg.open("g", ["class": "grid"])
        for tick in yAxis.ticks {
            guard let y = pixelY(tick) else { continue }
            svg.element("line", ["x1": svgNumber(plotLeft), "y1": svgNumber(y), "x2": svgNumber(plotRight), "y2": svgNumber(y)])
        }
        svg.close("g")
    }

    private func writeXAxis(into svg: inout SVGWriter) {
        svg.open("g", ["class": "axis x-axis"])
        for (tick, label) in zip(xAxis.ticks, xTickLabels) {
            guard let x = pixelX(tick) else { continue }
            svg.element(
                "line",
                [
                    "class": "tick", "x1": svgNumber(x), "y1": svgNumber(plotBottom),
                    "x2": svgNumber(x), "y2": svgNumber(plotBottom + Layout.tickLength),
                ])
            svg.element(
                "text",
                [
                    "class": "text tick-label", "x": svgNumber(x),
                    "y": svgNumber(plotBottom + Layout.tickLength + Layout.tickLabelGap + Layout.tickLabelFontSize * 0.8),
                    "text-anchor": "middle",
                ], text: label)
        }
        svg.element(
            "text",
            [
                "class": "text axis-label", "x": svgNumber((plotLeft + plotRight) / 2), "y": svgNumber(height - 8),
                "text-anchor": "middle",
            ], text: panel.xLabel)
        svg.close("g")
    }

    private func writeYAxis(into svg: inout SVGWriter) {
        svg.open("g", ["class": "axis y-axis"])
        for (tick, label) in zip(yAxis.ticks, yTickLabels) {
            guard let y = pixelY(tick) else { continue }
            svg.element(
                "line",
                [
                    "class": "tick", "x1": svgNumber(plotLeft - Layout.tickLength), "y1": svgNumber(y),
                    "x2": svgNumber(plotLeft), "y2": svgNumber(y),
                ])
            svg.element(
                "text",
                [
                    "class": "text tick-label", "x": svgNumber(plotLeft - Layout.tickLength - Layout.tickLabelGap),
                    "y": svgNumber(y), "dy": "0.32em", "text-anchor": "end",
                ], text: label)
        }
        let middle = (plotTop + plotBottom) / 2
        svg.element(
            "text",
            [
                "class": "text axis-label", "transform": "translate(\(svgNumber(Self.yLabelBaseline)),\(svgNumber(middle))) rotate(-90)",
                "text-anchor": "middle",
            ], text: panel.yLabel)
        svg.close("g")
    }

    /// Markers inside the x range, each a line from the plot's top to its bottom with its label
    /// as tooltip, and the label small at the top: in the first of a few rows where it overlaps
    /// no other label, else in the last row.
    private func writeMarkers(into svg: inout SVGWriter) {
        svg.open("g", ["class": "markers"])
        var labelRows: [[ClosedRange<Double>]] = Array(repeating: [], count: Self.markerLabelRows)
        for marker in panel.markers {
            guard let fraction = xAxis.fraction(of: marker.x), (0...1).contains(fraction) else { continue }
            let x = plotLeft + fraction * (plotRight - plotLeft)
            let style = marker.style == .boundary ? "boundary" : "highlight"
            svg.open("g", ["class": "marker"])
            svg.open(
                "line",
                [
                    "class": style, "x1": svgNumber(x), "y1": svgNumber(plotTop), "x2": svgNumber(x), "y2": svgNumber(plotBottom),
                ])
            svg.element("title", text: marker.label ?? "x = " + NumberFormatting.format(marker.x, significantDigits: Self.tooltipDigits))
            svg.close("line")
            if let label = marker.label {
                let extent = x...(x + 3 + Layout.textWidth(label, fontSize: Layout.markerLabelFontSize))
                let row = labelRows.firstIndex { $0.allSatisfy { !$0.overlaps(extent) } } ?? labelRows.count - 1
                labelRows[row].append(extent)
                svg.element(
                    "text",
                    [
                        "class": "text marker-label", "x": svgNumber(x + 3),
                        "y": svgNumber(plotTop + (Layout.markerLabelFontSize + 1) * Double(row + 1)),
                    ], text: label)
            }
            svg.close("g")
        }
        svg.close("g")
    }

    /// The series' line, one path per run of consecutive plottable points, and its points.
    private func writeSeries(_ series: Series, entry: LegendEntry, into svg: inout SVGWriter) {
        svg.open(
            "g",
            [
                "class": "series c\(entry.colorSlot)", "data-series": series.name, "data-index": String(entry.index),
            ])
        var runs: [[(x: Double, y: Double, point: DataPoint)]] = [[]]
        for point in series.points {
            if let y = point.y, let px = pixelX(point.x), let py = pixelY(y) {
                runs[runs.count - 1].append((px, py, point))
            } else if !runs[runs.count - 1].isEmpty {
                runs.append([])
            }
        }
        for run in runs where !run.isEmpty {
            var path = run.enumerated().map { index, p in (index == 0 ? "M" : "L") + svgNumber(p.x) + " " + svgNumber(p.y) }
            // A lone point is a zero-length line, which round caps show as a dot.
            if run.count == 1 { path.append("h0") }
            svg.element(
                "path",
                [
                    "class": "line", "d": path.joined(separator: " "),
                    "stroke-dasharray": series.dashed ? Layout.dashPattern : nil,
                ])
        }
        if series.showPoints {
            for p in runs.joined() {
                svg.open("circle", ["class": "point", "cx": svgNumber(p.x), "cy": svgNumber(p.y), "r": svgNumber(Layout.pointRadius)])
                svg.element("title", text: p.point.label ?? tooltip(series.name, p.point))
                svg.close("circle")
            }
        }
        svg.close("g")
    }

    private func tooltip(_ name: String, _ point: DataPoint) -> String {
        let y = point.y.map { NumberFormatting.format($0, significantDigits: Self.tooltipDigits) } ?? ""
        return name + ": " + NumberFormatting.format(point.x, significantDigits: Self.tooltipDigits) + ", " + y
    }
}
