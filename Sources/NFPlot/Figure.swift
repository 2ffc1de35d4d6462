/// One picture: panels in a grid of `columns` per row, with one legend shared by all of them.
public struct Figure: Sendable, Equatable {
    /// Shown above the legend and used as the SVG's accessible title.
    public var title: String?
    public var panels: [Panel]
    /// Panels per row; nil puts every panel in one row.
    public var columns: Int?
    /// Size of one panel's cell, its axis labels and title included, in SVG pixels (kept within
    /// 120...10000; a non-finite size takes the default).
    public var panelWidth: Double
    public var panelHeight: Double

    public init(
        title: String? = nil, panels: [Panel], columns: Int? = nil,
        panelWidth: Double = 360, panelHeight: Double = 260
    ) {
        self.title = title
        self.panels = panels
        self.columns = columns
        self.panelWidth = panelWidth
        self.panelHeight = panelHeight
    }
}

/// One chart: a plot area with its axes, title, series and markers.
public struct Panel: Sendable, Equatable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var yScale: AxisScale
    public var series: [Series]
    /// Vertical lines across the plot area (stage boundaries, positions of interest).
    public var markers: [Marker]
    /// The x values are indices: ticks only at integers.
    public var xIntegerTicks: Bool

    public init(
        title: String, xLabel: String, yLabel: String, yScale: AxisScale = .linear,
        series: [Series], markers: [Marker] = [], xIntegerTicks: Bool = false
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.yScale = yScale
        self.series = series
        self.markers = markers
        self.xIntegerTicks = xIntegerTicks
    }
}

/// How values map onto an axis.
public enum AxisScale: Sendable, Equatable {
    case linear
    /// Logarithmic, ticks at powers of ten; values <= 0 are gaps.
    case log
}

/// One line (and its points) of a panel.
public struct Series: Sendable, Equatable {
    /// Legend entry; series with equal names, in any panel, share one colour and one legend entry.
    public var name: String
    /// Palette index; nil takes the name's first explicit colour in the figure, or else the
    /// position of the name's first appearance among the figure's distinct names.
    public var color: Int?
    public var dashed: Bool
    /// Draws a small circle at each point, with the point's label as its tooltip.
    public var showPoints: Bool
    /// Joined in the order given.
    public var points: [DataPoint]

    public init(name: String, color: Int? = nil, dashed: Bool = false, showPoints: Bool = true, points: [DataPoint]) {
        self.name = name
        self.color = color
        self.dashed = dashed
        self.showPoints = showPoints
        self.points = points
    }
}

/// One value of a series. A point whose x or y is nil, NaN, infinite or beyond +-1e300 is a gap:
/// the line breaks there.
public struct DataPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double?
    /// Tooltip text; nil shows "name: x, y".
    public var label: String?

    public init(x: Double, y: Double?, label: String? = nil) {
        self.x = x
        self.y = y
        self.label = label
    }
}

/// A vertical line at `x` across a panel's plot area.
public struct Marker: Sendable, Equatable {
    public var x: Double
    /// Shown small at the top of the line and as its tooltip (which otherwise reads "x = 51").
    public var label: String?
    public var style: MarkerStyle

    public init(x: Double, label: String? = nil, style: MarkerStyle = .boundary) {
        self.x = x
        self.label = label
        self.style = style
    }
}

/// How a marker is drawn.
public enum MarkerStyle: Sendable, Equatable {
    /// Thin grey dashed line (stage boundaries).
    case boundary
    /// Thin coloured dotted line (positions of interest).
    case highlight
}
