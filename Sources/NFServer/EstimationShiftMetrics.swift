import NFDiagnostics
import NFLayers
import NFServing

/// What `/metrics` exports of each served model's live BatchNorm sums (`--esm-export`).
/// - `channel`: the raw sums of `EstimationShiftSums` per channel, which Prometheus adds across
///   replicas into the fleet's exact estimation shift (`deploy/prometheus/`); 4 series per
///   BatchNorm channel and 1 per layer (resnet50: 26,560 channels in 53 layers, about 106,000).
/// - `layer`: this replica's ESM per layer and the values seen, 3 series per layer; the average
///   of replicas' ESMs is not the fleet's, so these only describe one replica.
/// - `off`: neither (the per-stage `nfserve_live_esm` gauges stay).
public enum EstimationShiftExport: String, Sendable, CaseIterable {
    case off, layer, channel
}

/// The live sums as Prometheus text, appended to the registry's.
///
/// Written here in the text exposition format rather than through swift-prometheus: its
/// registry copies a metric family's series on every new label set, which for the hundred
/// thousand series of a resnet50 in `channel` mode is quadratic, and its counters only count up
/// (these are totals kept elsewhere, set afresh at every scrape, and dropped whole when a
/// model's statistics change).
enum EstimationShiftMetrics {
    private struct Layer {
        let labels: String
        let batchNorm: BatchNorm2d
        let sums: EstimationShiftSums
        /// This replica's shift (`layer` mode), as `/diagnostics/esm?source=live` computes it.
        let shift: EstimationShiftLayer?
    }

    static func text(_ export: EstimationShiftExport, store: ModelStore, live: LiveMonitors) -> String {
        guard export != .off else { return "" }
        var layers: [Layer] = []
        for monitor in live.all {
            // Only the version serving now: an older one's sums were taken against other statistics.
            guard let model = store.entry(named: monitor.name)?.model, model.version === monitor.version else { continue }
            let sums = monitor.live.sums.layers
            // The one estimation-shift computation (the JSON route's), over this replica's moments.
            let shifts =
                export == .layer
                ? Dictionary(
                    EstimationShift.layers(model.classifier, measured: monitor.live.all.moments).map { ($0.name, $0) }
                ) { first, _ in first } : [:]
            for bn in model.classifier.batchNormLayers {
                guard let layer = sums[bn.name], layer.values > 0, layer.channels == bn.channels else { continue }
                let labels =
                    "model=\"\(escaped(monitor.name))\",statistics=\"\(monitor.live.statistics)\",layer=\"\(escaped(bn.name))\",group=\"\(escaped(ServerMetrics.group(of: bn.name)))\""
                layers.append(Layer(labels: labels, batchNorm: bn, sums: layer, shift: shifts[bn.name]))
            }
        }
        guard !layers.isEmpty else { return "" }
        var out = ""
        out.reserveCapacity(layers.reduce(0) { $0 + 64 + $1.sums.channels * 4 * ($1.labels.count + 40) })
        family(
            &out, "nfserve_esm_values_total", "counter",
            "Values each channel of a BatchNorm layer's input has seen in observed passes (images x height x width), since the start or the last reset"
        )
        for layer in layers { out += "nfserve_esm_values_total{\(layer.labels)} \(layer.sums.values)\n" }
        switch export {
        case .off: break
        case .layer:
            family(&out, "nfserve_live_esm_layer", "gauge", "This replica's estimation shift per BatchNorm layer (statistic esm_mean or esm_var)")
            for layer in layers {
                guard let esmMean = layer.shift?.esmMean, let esmVar = layer.shift?.esmVar else { continue }
                out += "nfserve_live_esm_layer{\(layer.labels),statistic=\"esm_mean\"} \(esmMean)\n"
                out += "nfserve_live_esm_layer{\(layer.labels),statistic=\"esm_var\"} \(esmVar)\n"
            }
        case .channel:
            let perChannel: [(String, String, String, (Layer, Int) -> Double)] = [
                (
                    "nfserve_esm_deviation_up_total", "counter",
                    "Per channel, the sums of (x - running_mean) of the observed passes where it was positive",
                    { $0.sums.deviationUp[$1] }
                ),
                (
                    "nfserve_esm_deviation_down_total", "counter",
                    "Per channel, minus the sums of (x - running_mean) of the observed passes where it was negative",
                    { $0.sums.deviationDown[$1] }
                ),
                ("nfserve_esm_squared_deviation_total", "counter", "Per channel, the sum of (x - running_mean)^2", { $0.sums.squaredDeviations[$1] }),
                ("nfserve_esm_running_var", "gauge", "Per channel, the BatchNorm layer's running variance", { Double($0.batchNorm.runningVar[$1]) }),
            ]
            for (name, type, help, value) in perChannel {
                family(&out, name, type, help)
                for layer in layers {
                    for c in 0..<layer.sums.channels { out += "\(name){\(layer.labels),channel=\"\(c)\"} \(value(layer, c))\n" }
                }
            }
        }
        return out
    }

    private static func family(_ out: inout String, _ name: String, _ type: String, _ help: String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// A label value as the exposition format quotes it: backslash, double quote and newline escaped.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
