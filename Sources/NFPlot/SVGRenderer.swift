/// Renders figures as standalone SVG documents.
public enum SVGRenderer {
    /// The figure as one SVG document: title, legend, then the panels in rows of
    /// `figure.columns`. Deterministic: the same figure gives the same string.
    public static func render(_ figure: Figure) -> String {
        let panelWidth = Layout.panelDimension(figure.panelWidth, default: Layout.defaultPanelWidth)
        let panelHeight = Layout.panelDimension(figure.panelHeight, default: Layout.defaultPanelHeight)
        let columns = max(1, min(figure.columns ?? figure.panels.count, figure.panels.count))
        let rows = (figure.panels.count + columns - 1) / columns
        let width = Double(columns) * panelWidth

        let entries = LegendEntry.entries(of: figure)
        let legend = LegendLayout(entries, width: width)
        let legendTop = (figure.title == nil ? 0 : Layout.titleHeight) + Layout.legendMargin
        let panelsTop = legendTop + Double(legend.rowCount) * Layout.legendRowHeight + Layout.legendMargin
        let height = panelsTop + Double(rows) * panelHeight

        var svg = SVGWriter()
        svg.open(
            "svg",
            [
                "xmlns": "http://www.w3.org/2000/svg", "viewBox": "0 0 \(svgNumber(width)) \(svgNumber(height))",
                "width": svgNumber(width), "height": svgNumber(height), "role": "img", "class": "nfplot",
            ])
        svg.element("title", text: accessibleTitle(figure))
        svg.open("style")
        svg.raw(SVGStyle.sheet)
        svg.close("style")
        svg.element("rect", ["class": "bg", "width": svgNumber(width), "height": svgNumber(height)])
        if let title = figure.title {
            svg.element(
                "text",
                [
                    "class": "text figure-title", "x": svgNumber(width / 2), "y": "19", "text-anchor": "middle",
                ], text: title)
        }
        legend.write(top: legendTop, into: &svg)
        let entriesByName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        for (index, panel) in figure.panels.enumerated() {
            PanelRenderer(panel, width: panelWidth, height: panelHeight).write(
                x: Double(index % columns) * panelWidth, y: panelsTop + Double(index / columns) * panelHeight,
                entries: entriesByName, into: &svg)
        }
        svg.close("svg")
        return svg.output
    }

    /// The figure's title, else its panels' titles, else "Chart".
    private static func accessibleTitle(_ figure: Figure) -> String {
        if let title = figure.title { return title }
        let titles = figure.panels.map(\.title).filter { !$0.isEmpty }
        return titles.isEmpty ? "Chart" : titles.joined(separator: ", ")
    }
}
