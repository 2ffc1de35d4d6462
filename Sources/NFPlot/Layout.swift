/// Sizes of the drawing, in SVG pixels. Font sizes here match the style sheet's.
enum Layout {
    static let titleFontSize = 14.0
    static let panelTitleFontSize = 12.0
    static let axisLabelFontSize = 11.0
    static let tickLabelFontSize = 10.0
    static let legendFontSize = 11.0
    static let markerLabelFontSize = 9.0

    /// Height of the figure title's line.
    static let titleHeight = 26.0
    /// Height of one legend row, and the space around the legend.
    static let legendRowHeight = 18.0
    static let legendMargin = 6.0
    /// Legend swatch length, gap before the name, and space between items.
    static let swatchLength = 22.0
    static let swatchGap = 5.0
    static let legendItemSpacing = 16.0

    /// Space above a panel's plot area (its title) and below it (tick labels and x label).
    static let plotTop = 28.0
    static let plotBottomMargin = 40.0
    /// Tick length and the gap between a tick and its label.
    static let tickLength = 4.0
    static let tickLabelGap = 3.0
    static let pointRadius = 2.2
    static let dashPattern = "6 4"

    /// Smallest and default panel size.
    static let minimumPanelSize = 120.0
    static let defaultPanelWidth = 360.0
    static let defaultPanelHeight = 260.0

    /// A rough width of `text` in the generic sans-serif font: 0.6 em per character, on the wide
    /// side so that labels get room.
    static func textWidth(_ text: String, fontSize: Double) -> Double {
        Double(text.count) * fontSize * 0.6
    }

    /// A usable panel dimension: `value` when finite, at least `minimumPanelSize` and at most 10000.
    static func panelDimension(_ value: Double, default fallback: Double) -> Double {
        value.isFinite ? min(max(value, minimumPanelSize), 10_000) : fallback
    }
}
