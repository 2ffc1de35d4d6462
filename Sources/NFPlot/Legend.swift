/// One distinct series name of a figure: its legend item, and the colour and line style every
/// series of that name is drawn with.
struct LegendEntry: Sendable, Equatable {
    var name: String
    /// Position among the figure's distinct names (the `data-index` of its groups).
    var index: Int
    /// Palette slot (the `cN` class).
    var colorSlot: Int
    /// Taken from the name's first series.
    var dashed: Bool

    /// The figure's distinct series names in order of first appearance. A name's colour is the
    /// first explicit `color` among its series, else its position.
    static func entries(of figure: Figure) -> [LegendEntry] {
        var entries: [LegendEntry] = []
        var positions: [String: Int] = [:]
        var explicitColor: [String: Int] = [:]
        for series in figure.panels.flatMap(\.series) {
            if positions[series.name] == nil {
                positions[series.name] = entries.count
                entries.append(LegendEntry(name: series.name, index: entries.count, colorSlot: 0, dashed: series.dashed))
            }
            if let color = series.color, explicitColor[series.name] == nil { explicitColor[series.name] = color }
        }
        return entries.map { entry in
            var entry = entry
            entry.colorSlot = Palette.slot(explicitColor[entry.name] ?? entry.index)
            return entry
        }
    }
}

/// The figure's legend: items in rows that wrap at the figure's width, each row centred.
struct LegendLayout {
    /// Each entry with the left edge of its item and its row.
    var items: [(entry: LegendEntry, x: Double, row: Int)]
    var rowCount: Int

    init(_ entries: [LegendEntry], width: Double) {
        let available = width - 2 * Layout.legendItemSpacing
        var rows: [[(entry: LegendEntry, width: Double)]] = []
        var rowWidth = 0.0
        for entry in entries {
            let itemWidth = Layout.swatchLength + Layout.swatchGap + Layout.textWidth(entry.name, fontSize: Layout.legendFontSize)
            if let last = rows.indices.last, rowWidth + Layout.legendItemSpacing + itemWidth <= available {
                rows[last].append((entry, itemWidth))
                rowWidth += Layout.legendItemSpacing + itemWidth
            } else {
                rows.append([(entry, itemWidth)])
                rowWidth = itemWidth
            }
        }
        items = []
        for (row, members) in rows.enumerated() {
            let total = members.map(\.width).reduce(0, +) + Layout.legendItemSpacing * Double(members.count - 1)
            var x = max((width - total) / 2, Layout.legendItemSpacing)
            for member in members {
                items.append((member.entry, x, row))
                x += member.width + Layout.legendItemSpacing
            }
        }
        rowCount = rows.count
    }

    /// Writes the legend with its first row's centre line at `top + legendRowHeight / 2`.
    func write(top: Double, into svg: inout SVGWriter) {
        svg.open("g", ["class": "legend"])
        for item in items {
            let y = top + (Double(item.row) + 0.5) * Layout.legendRowHeight
            svg.open(
                "g",
                [
                    "class": "legend-item c\(item.entry.colorSlot)", "data-series": item.entry.name,
                    "data-index": String(item.entry.index),
                ])
            svg.element(
                "line",
                [
                    "class": "swatch", "x1": svgNumber(item.x), "y1": svgNumber(y),
                    "x2": svgNumber(item.x + Layout.swatchLength), "y2": svgNumber(y),
                    "stroke-dasharray": item.entry.dashed ? Layout.dashPattern : nil,
                ])
            svg.element(
                "text",
                [
                    "class": "text legend-label", "x": svgNumber(item.x + Layout.swatchLength + Layout.swatchGap),
                    "y": svgNumber(y), "dy": "0.35em",
                ], text: item.entry.name)
            svg.close("g")
        }
        svg.close("g")
    }
}
