import Testing

@testable import NFPlot

@Suite struct SVGRendererTests {
    static func line(_ name: String, _ ys: [Double?], dashed: Bool = false, color: Int? = nil) -> Series {
        Series(name: name, color: color, dashed: dashed, points: ys.enumerated().map { DataPoint(x: Double($0), y: $1) })
    }

    static func panel(title: String = "panel", _ series: [Series], markers: [Marker] = [], yScale: AxisScale = .linear) -> Panel {
        Panel(title: title, xLabel: "block", yLabel: "variance", yScale: yScale, series: series, markers: markers, xIntegerTicks: true)
    }

    /// Renders `figure` and parses it, failing the test when it is not well-formed.
    static func parsed(_ figure: Figure, sourceLocation: SourceLocation = #_sourceLocation) throws -> (svg: String, root: ParsedElement) {
        let svg = SVGRenderer.render(figure)
        let root = try #require(ParsedElement.parse(svg), "not well-formed:\n\(svg)", sourceLocation: sourceLocation)
        return (svg, root)
    }

    @Test func documentIsWellFormedStandaloneSVG() throws {
        let figure = Figure(title: "Signal propagation", panels: [Self.panel([Self.line("a", [1, 2, 3])])])
        let (svg, root) = try Self.parsed(figure)
        #expect(root.name == "svg")
        #expect(root.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(root.attributes["role"] == "img")
        let width = try #require(root.attributes["width"]), height = try #require(root.attributes["height"])
        #expect(root.attributes["viewBox"] == "0 0 \(width) \(height)")
        #expect(root.children.first?.name == "title")
        #expect(root.children.first?.text == "Signal propagation")
        let style = try #require(root.all("style").first)
        #expect(style.text.contains("prefers-color-scheme: dark"))
        #expect(style.text.contains("sans-serif"))
        for external in ["href", "<image", "<script", "@import", "url("] {
            #expect(!svg.contains(external), "\(external)")
        }
    }

    @Test func seriesGroupsCirclesAndTooltips() throws {
        let figure = Figure(panels: [
            Self.panel(title: "one", [Self.line("a", [1, 2, 3]), Self.line("b", [3, 2, 1, 0])]),
            Self.panel(title: "two", [Self.line("a", [5, 6])]),
        ])
        let (_, root) = try Self.parsed(figure)
        let groups = root.all(class: "series")
        #expect(groups.count == 3)
        #expect(groups.map { $0.attributes["data-series"] } == ["a", "b", "a"])
        #expect(groups.map { $0.attributes["data-index"] } == ["0", "1", "0"])
        let circles = root.all("circle")
        #expect(circles.count == 9)
        #expect(circles.allSatisfy { $0.children.count == 1 && $0.children[0].name == "title" })
        #expect(groups[1].all("circle").map { $0.children[0].text } == ["b: 0, 3", "b: 1, 2", "b: 2, 1", "b: 3, 0"])
        #expect(root.all(class: "panel").count == 2)
        #expect(root.all(class: "panel-title").map(\.text) == ["one", "two"])
    }

    @Test func pointLabelsAndFourSignificantDigitsInTooltips() throws {
        let series = Series(
            name: "s",
            points: [
                DataPoint(x: 1, y: 0.123456789), DataPoint(x: 2, y: 12345.678, label: "block 2 <stage>"),
            ])
        let (_, root) = try Self.parsed(Figure(panels: [Self.panel([series])]))
        #expect(root.all("circle").map { $0.children[0].text } == ["s: 1, 0.1235", "block 2 <stage>"])
    }

    @Test func dashedSeriesAndLegendSwatchAreDashed() throws {
        let figure = Figure(panels: [Self.panel([Self.line("solid", [1, 2]), Self.line("expected", [1, 3], dashed: true)])])
        let (_, root) = try Self.parsed(figure)
        let groups = root.all(class: "series")
        #expect(groups[0].all("path").allSatisfy { $0.attributes["stroke-dasharray"] == nil })
        #expect(!groups[1].all("path").isEmpty)
        #expect(groups[1].all("path").allSatisfy { $0.attributes["stroke-dasharray"] != nil })
        let swatches = root.all(class: "legend-item").map { $0.all(class: "swatch")[0] }
        #expect(swatches.map { $0.attributes["stroke-dasharray"] != nil } == [false, true])
    }

    @Test func gapsSplitTheLine() throws {
        let figure = Figure(panels: [
            Self.panel([
                Self.line("gappy", [1, 2, nil, 3, 4, .nan, 5, 6]),
                Self.line("leading gap", [nil, 1, 2]),
            ])
        ])
        let (_, root) = try Self.parsed(figure)
        let groups = root.all(class: "series")
        let paths = groups[0].all("path")
        #expect(paths.count == 3)
        #expect(paths.allSatisfy { ($0.attributes["d"] ?? "").filter { $0 == "M" }.count == 1 })
        #expect(groups[0].all("circle").count == 6)
        #expect(groups[1].all("path").count == 1)
        #expect(groups[1].all("circle").count == 2)
    }

    @Test func lonePointIsADot() throws {
        let (_, root) = try Self.parsed(Figure(panels: [Self.panel([Self.line("one", [nil, 2, nil])])]))
        let paths = root.all(class: "line")
        #expect(paths.count == 1)
        #expect(paths[0].attributes["d"]?.hasSuffix("h0") == true)
    }

    @Test func textIsEscaped() throws {
        let nasty = "a<b & \"c\" 'd' >e"
        let figure = Figure(
            title: nasty,
            panels: [
                Panel(
                    title: nasty, xLabel: nasty, yLabel: nasty,
                    series: [Series(name: nasty, points: [DataPoint(x: 0, y: 1, label: nasty)])],
                    markers: [Marker(x: 0, label: nasty)])
            ])
        let (svg, root) = try Self.parsed(figure)
        #expect(!svg.contains("a<b"))
        #expect(svg.contains("a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt;e"))
        #expect(root.children[0].text == nasty)
        #expect(root.all(class: "series")[0].attributes["data-series"] == nasty)
        #expect(root.all(class: "legend-item")[0].attributes["data-series"] == nasty)
        #expect(root.all("circle")[0].children[0].text == nasty)
        #expect(root.all(class: "axis-label").map(\.text) == [nasty, nasty])
        #expect(root.all(class: "marker-label").map(\.text) == [nasty])
    }

    @Test func controlCharactersAreReplaced() throws {
        let (svg, root) = try Self.parsed(Figure(title: "bell\u{07}end", panels: []))
        #expect(!svg.contains("\u{07}"))
        #expect(root.children[0].text == "bell\u{FFFD}end")
    }

    @Test func nonFiniteValuesNeverReachTheDocument() throws {
        let series = Series(
            name: "s",
            points: [
                DataPoint(x: 0, y: .nan), DataPoint(x: 1, y: .infinity), DataPoint(x: 2, y: 1),
                DataPoint(x: .nan, y: 2), DataPoint(x: -.infinity, y: 3), DataPoint(x: 3, y: 2), DataPoint(x: 4, y: 1e308),
            ])
        let figure = Figure(
            panels: [Self.panel([series], markers: [Marker(x: .nan), Marker(x: .infinity, label: "inf")])],
            panelWidth: .nan, panelHeight: .infinity)
        let (svg, root) = try Self.parsed(figure)
        for word in ["nan", "inf"] {
            #expect(!svg.lowercased().contains(word), "\(word)")
        }
        #expect(root.all("circle").count == 2)
        #expect(root.all(class: "marker").isEmpty)
        Self.expectNumericAttributes(root)
    }

    @Test func logScaleSkipsValuesAtOrBelowZero() throws {
        let figure = Figure(panels: [Self.panel([Self.line("s", [1e-5, 0, -1, 0.01, 10])], yScale: .log)])
        let (_, root) = try Self.parsed(figure)
        #expect(root.all("circle").count == 3)
        #expect(root.all(class: "line").count == 2)
        let labels = root.all(class: "y-axis")[0].all(class: "tick-label").map(\.text)
        #expect(labels == ["1e-5", "1e-4", "0.001", "0.01", "0.1", "1", "10"])
    }

    @Test func emptyPanelsDrawEmptyAxes() throws {
        let figure = Figure(panels: [
            Self.panel([]), Self.panel([Series(name: "nothing", points: [])]), Self.panel([Self.line("gaps", [nil, nil])], yScale: .log),
        ])
        let (svg, root) = try Self.parsed(figure)
        #expect(!svg.lowercased().contains("nan"))
        #expect(root.all(class: "frame").count == 3)
        #expect(root.all(class: "x-axis").allSatisfy { !$0.all(class: "tick").isEmpty })
        #expect(root.all(class: "y-axis").allSatisfy { !$0.all(class: "tick").isEmpty })
        #expect(root.all(class: "series").count == 2)
        #expect(root.all("path").isEmpty && root.all("circle").isEmpty)
        Self.expectNumericAttributes(root)
        _ = try Self.parsed(Figure(panels: []))
    }

    @Test func singleValuedRangesDoNotDivideByZero() throws {
        let figure = Figure(panels: [Self.panel([Series(name: "flat", points: [DataPoint(x: 7, y: 3), DataPoint(x: 7, y: 3)])])])
        let (svg, root) = try Self.parsed(figure)
        #expect(!svg.lowercased().contains("nan"))
        #expect(root.all("circle").count == 2)
        Self.expectNumericAttributes(root)
    }

    @Test func markersInsideTheRangeAreDrawnWithTooltips() throws {
        let markers = [
            Marker(x: 1, label: "stage 1"), Marker(x: 5), Marker(x: 7, label: "GroupNorm", style: .highlight),
            Marker(x: 1000, label: "outside"),
        ]
        let (_, root) = try Self.parsed(Figure(panels: [Self.panel([Self.line("s", Array(repeating: 1, count: 10))], markers: markers)]))
        let groups = root.all(class: "marker")
        #expect(groups.count == 3)
        let lines = groups.map { $0.all("line")[0] }
        #expect(lines.map { $0.attributes["class"] } == ["boundary", "boundary", "highlight"])
        #expect(lines.map { $0.all("title").first?.text } == ["stage 1", "x = 5", "GroupNorm"])
        #expect(lines.allSatisfy { $0.attributes["x1"] == $0.attributes["x2"] && $0.attributes["y1"] != $0.attributes["y2"] })
        #expect(root.all(class: "marker-label").map(\.text) == ["stage 1", "GroupNorm"])
    }

    @Test func overlappingMarkerLabelsTakeSeparateRows() throws {
        let markers = [Marker(x: 5, label: "stage 3"), Marker(x: 5.2, label: "GN", style: .highlight)]
        let (_, root) = try Self.parsed(Figure(panels: [Self.panel([Self.line("s", Array(repeating: 1, count: 10))], markers: markers)]))
        let ys = root.all(class: "marker-label").map { $0.attributes["y"] }
        #expect(ys.count == 2 && ys[0] != ys[1])
    }

    @Test func oneLegendItemAndColourPerName() throws {
        let figure = Figure(panels: [
            Self.panel(title: "one", [Self.line("BN-ReLU-Conv", [1, 2]), Self.line("NF-ResNet", [1, 1])]),
            Self.panel(
                title: "two",
                [Self.line("NF-ResNet", [2, 2]), Self.line("BN-ReLU-Conv", [3, 4]), Self.line("expected", [1, 1], dashed: true, color: 1)]),
        ])
        let (_, root) = try Self.parsed(figure)
        let items = root.all(class: "legend-item")
        #expect(items.map { $0.attributes["data-series"] } == ["BN-ReLU-Conv", "NF-ResNet", "expected"])
        #expect(items.allSatisfy { $0.all("text").count == 1 && $0.all(class: "swatch").count == 1 })
        func colour(_ element: ParsedElement) -> String? {
            element.attributes["class"]?.split(separator: " ").first { $0.hasPrefix("c") }.map(String.init)
        }
        #expect(items.map(colour) == ["c0", "c1", "c1"])
        var seriesColours: [String: Set<String?>] = [:]
        for group in root.all(class: "series") { seriesColours[group.attributes["data-series"]!, default: []].insert(colour(group)) }
        #expect(seriesColours == ["BN-ReLU-Conv": ["c0"], "NF-ResNet": ["c1"], "expected": ["c1"]])
    }

    @Test func gridOfColumns() throws {
        let panels = (0..<5).map { Self.panel(title: "p\($0)", [Self.line("s", [1, 2])]) }
        let (_, root) = try Self.parsed(Figure(panels: panels, columns: 2, panelWidth: 300, panelHeight: 200))
        #expect(root.attributes["width"] == "600")
        let transforms = root.all(class: "panel").compactMap { $0.attributes["transform"] }
        #expect(Set(transforms).count == 5)
        #expect(transforms[0].hasPrefix("translate(0,") && transforms[1].hasPrefix("translate(300,") && transforms[2].hasPrefix("translate(0,"))
    }

    @Test func outputIsDeterministic() {
        let figure = Figure(
            title: "t",
            panels: [
                Self.panel(title: "one", [Self.line("b", [0.1, 0.2, nil, 0.3]), Self.line("a", [3, 1])], markers: [Marker(x: 1)]),
                Self.panel(title: "two", [Self.line("a", [1e-3, 1, 1e3])], yScale: .log),
            ])
        let first = SVGRenderer.render(figure)
        #expect((0..<5).allSatisfy { _ in SVGRenderer.render(figure) == first })
    }

    @Test func coordinatesHaveAtMostTwoDecimals() throws {
        let (svg, root) = try Self.parsed(Figure(panels: [Self.panel([Self.line("s", [0.123456, 1.0 / 3, 2.0 / 3])])]))
        Self.expectNumericAttributes(root)
        #expect(!svg.contains("-0 ") && !svg.contains("\"-0\""))
    }

    /// Every coordinate attribute (and each number of every path) is a finite number with at most
    /// two decimals.
    static func expectNumericAttributes(_ root: ParsedElement, sourceLocation: SourceLocation = #_sourceLocation) {
        let names = ["x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height"]
        for element in root.all {
            var numbers = names.compactMap { element.attributes[$0] }
            if let d = element.attributes["d"] {
                numbers += d.split(whereSeparator: { "MLh ".contains($0) }).map(String.init)
            }
            for number in numbers {
                let decimals = number.split(separator: ".").dropFirst().first?.count ?? 0
                #expect(Double(number)?.isFinite == true && decimals <= 2, "\(element.name): \(number)", sourceLocation: sourceLocation)
            }
        }
    }
}
