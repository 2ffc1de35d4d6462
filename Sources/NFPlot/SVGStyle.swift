/// The style sheet every figure carries: light defaults, dark ones under
/// `prefers-color-scheme: dark`, and one class per palette index (`c0`, `c1`, ...) that sets
/// stroke and fill for a series' group and legend item.
enum SVGStyle {
    static let sheet: String = {
        var css = """
            .nfplot{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:11px}
            .bg{fill:#ffffff}
            .text{fill:#1f2328;stroke:none}
            .figure-title{font-size:\(Int(Layout.titleFontSize))px;font-weight:600}
            .panel-title{font-size:\(Int(Layout.panelTitleFontSize))px;font-weight:600}
            .axis-label{font-size:\(Int(Layout.axisLabelFontSize))px}
            .tick-label{font-size:\(Int(Layout.tickLabelFontSize))px;fill:#57606a}
            .legend-label{font-size:\(Int(Layout.legendFontSize))px}
            .marker-label{font-size:\(Int(Layout.markerLabelFontSize))px;fill:#6e7781}
            .frame{fill:none;stroke:#57606a;stroke-width:1}
            .tick{stroke:#57606a;stroke-width:1}
            .grid{stroke:#e4e6e9;stroke-width:1}
            .boundary{stroke:#8c959f;stroke-width:1;stroke-dasharray:4 3}
            .highlight{stroke:#CC79A7;stroke-width:1.2;stroke-dasharray:1 3;stroke-linecap:round}
            .line{fill:none;stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
            .point{stroke:none}
            .swatch{stroke-width:2}

            """
        for (index, color) in Palette.light.enumerated() {
            css += ".c\(index){stroke:\(color);fill:\(color)}\n"
        }
        css += """
            @media (prefers-color-scheme: dark){
            .bg{fill:#16181d}
            .text{fill:#e6edf3}
            .tick-label{fill:#b1bac4}
            .marker-label{fill:#9198a1}
            .frame,.tick{stroke:#9198a1}
            .grid{stroke:#30363d}
            .boundary{stroke:#7d8590}

            """
        for (index, color) in Palette.dark.enumerated() where color != Palette.light[index] {
            css += ".c\(index){stroke:\(color);fill:\(color)}\n"
        }
        return css + "}\n"
    }()
}
