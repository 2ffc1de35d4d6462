/// Series colours: the Okabe-Ito colour-blind-safe palette, fixed per index.
enum Palette {
    /// Colour of each palette index on a light background.
    static let light = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
    /// The same hues for a dark background: blue and black lightened, the rest unchanged.
    static let dark = ["#3D9BE0", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#E0E0E0"]

    /// The palette slot of any integer index (wrapping around, negative ones too).
    static func slot(_ index: Int) -> Int {
        let count = light.count
        return ((index % count) + count) % count
    }
}
