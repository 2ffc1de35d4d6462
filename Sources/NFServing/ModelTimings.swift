import Synchronization

/// Each model's recent queue and pass times, for `GET /models` and the dashboard's models view
/// (`/metrics` has the full histograms): the last `window` of each, and their percentiles.
public final class ModelTimings: Sendable {
    /// Percentiles of one kind of time over the recent window, in milliseconds.
    public struct Summary: Sendable, Equatable {
        public let count: Int
        public let p50: Double
        public let p99: Double
        public let mean: Double
    }

    private struct Ring {
        var values: [Double] = []
        var next = 0

        mutating func add(_ value: Double, window: Int) {
            if values.count < window {
                values.append(value)
            } else {
                values[next] = value
                next = (next + 1) % window
            }
        }

        var summary: Summary? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            // Nearest rank: the smallest value with at least p of the values at or below it.
            func percentile(_ p: Double) -> Double { sorted[max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
            return Summary(count: sorted.count, p50: percentile(0.5), p99: percentile(0.99), mean: sorted.reduce(0, +) / Double(sorted.count))
        }
    }

    public let window: Int
    private let rings = Mutex<[String: (queue: Ring, pass: Ring)]>([:])

    public init(window: Int = 1000) { self.window = window }

    /// A request of `model` waited `duration` for its pass.
    public func recordQueue(model: String, _ duration: Duration) {
        rings.withLock { $0[model, default: (Ring(), Ring())].queue.add(duration.milliseconds, window: window) }
    }

    /// A pass of `model` took `duration` (its own time).
    public func recordPass(model: String, _ duration: Duration) {
        rings.withLock { $0[model, default: (Ring(), Ring())].pass.add(duration.milliseconds, window: window) }
    }

    /// The model's recent queue and pass times (nil where none was recorded).
    public func summary(model: String) -> (queue: Summary?, pass: Summary?) {
        rings.withLock { rings in (rings[model]?.queue.summary, rings[model]?.pass.summary) }
    }
}

extension Duration {
    /// The duration in milliseconds, as the JSON answers give times.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
