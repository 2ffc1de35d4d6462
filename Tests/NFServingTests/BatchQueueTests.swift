import Testing

@testable import NFServing

/// The rules of dynamic batching (`BatchQueue`) over synthetic time: each row is a script of
/// what happens when, with what the queue must answer at each step. No clock, no sleep.
@Suite struct BatchQueueTests {
    enum Expect: Equatable {
        case none, drain
        case wake(at: Duration)
    }

    enum Step {
        /// Request `name` of `images` images (`size` px square) arrives at `at` seconds.
        case enqueue(String, images: Int = 1, size: Int = 32, announced: Bool = false, at: Double, Expect)
        case announce(at: Double)
        case withdraw(at: Double, Expect)
        case cancel(String)
        /// The last armed timer goes off at `at`.
        case fire(at: Double, Expect)
        /// A drain runs: it takes these requests; `again`: another drain follows.
        case take([String], again: Bool = false)
        /// The pass taken last ends at `at` after `took` seconds, then finishes.
        case pass(images: Int, took: Double, endsAt: Double, Expect)
    }

    struct Row: CustomTestStringConvertible, Sendable {
        let name: String
        let policy: BatchingPolicy
        let steps: [Step]
        var testDescription: String { name }
    }

    static func s(_ seconds: Double) -> Duration { .nanoseconds(Int64((seconds * 1e9).rounded())) }

    /// A pass of `images` images taking `took` seconds, ending at `endsAt`: the history the
    /// gathering rules look at.
    static func history(images: Int, took: Double, endsAt: Double) -> [Step] {
        [
            .enqueue("earlier", images: images, at: endsAt - took, .drain), .take(["earlier"]),
            .pass(images: images, took: took, endsAt: endsAt, .none),
        ]
    }

    static let rows: [Row] = [
        Row(
            name: "queued requests share a pass", policy: BatchingPolicy(),
            steps: [
                .enqueue("a", at: 0, .drain), .enqueue("b", at: 0, .none), .enqueue("c", images: 3, at: 0, .none),
                .take(["a", "b", "c"]),
            ]),
        Row(
            name: "a batch is cut at the maximum size (4 + 4 + 2)", policy: BatchingPolicy(maxBatchSize: 4),
            steps: [.enqueue("0", at: 0, .drain)] + (1..<10).map { .enqueue("\($0)", at: 0, .none) } + [
                .take(["0", "1", "2", "3"], again: true), .take(["4", "5", "6", "7"], again: true), .take(["8", "9"]),
            ]),
        Row(
            name: "another size goes in a pass of its own", policy: BatchingPolicy(),
            steps: (0..<6).map { .enqueue("\($0)", at: 0, $0 == 0 ? .drain : .none) } + [
                .enqueue("three", images: 3, at: 0, .none), .enqueue("40px", size: 40, at: 0, .none),
                .take(["0", "1", "2", "3", "4", "5", "three"], again: true), .take(["40px"]),
            ]),
        Row(
            name: "a delay lets a request wait for company", policy: BatchingPolicy(maxBatchSize: 8, maxDelay: .seconds(2)),
            steps: [
                .enqueue("a", at: 0, .wake(at: s(2))), .enqueue("b", at: 0.05, .none), .fire(at: 2, .drain), .take(["a", "b"]),
            ]),
        Row(
            name: "a full batch does not wait for the delay", policy: BatchingPolicy(maxBatchSize: 2, maxDelay: .seconds(2)),
            steps: [
                .enqueue("a", at: 0, .wake(at: s(2))), .enqueue("b", at: 0.5, .drain), .take(["a", "b"]),
            ]),
        Row(
            name: "a delay counts from the oldest arrival, through a running pass", policy: BatchingPolicy(maxBatchSize: 8, maxDelay: .seconds(2)),
            steps: [
                .enqueue("a", at: 0, .wake(at: s(2))), .fire(at: 2, .drain), .take(["a"]),
                .enqueue("b", at: 2.5, .none), .pass(images: 1, took: 2.5, endsAt: 5, .drain), .take(["b"]),
            ]),
        Row(
            name: "no pass starts while another of the model runs", policy: BatchingPolicy(),
            steps: [
                .enqueue("a", at: 0, .drain), .take(["a"]), .enqueue("b", at: 0.001, .none),
                .pass(images: 1, took: 0.0005, endsAt: 0.002, .drain), .take(["b"]),
            ]),
        Row(
            name: "a pass waits for images being decoded, then goes when they come", policy: BatchingPolicy(),
            steps:
                history(images: 1, took: 1000, endsAt: 1000) + [
                    .announce(at: 2000), .announce(at: 2000),
                    .enqueue("a", announced: true, at: 2000, .wake(at: s(2100))),
                    .enqueue("b", announced: true, at: 2000.2, .drain), .take(["a", "b"]),
                ]),
        Row(
            name: "a withdrawn request releases the wait", policy: BatchingPolicy(),
            steps:
                history(images: 1, took: 1000, endsAt: 1000) + [
                    .announce(at: 2000), .announce(at: 2000),
                    .enqueue("a", announced: true, at: 2000, .wake(at: s(2100))),
                    .withdraw(at: 2000.1, .drain), .take(["a"]),
                ]),
        Row(
            name: "a request cancelled while decoding joins no pass and holds none back", policy: BatchingPolicy(),
            steps:
                history(images: 1, took: 1000, endsAt: 1000) + [
                    .announce(at: 2000), .withdraw(at: 2000, .none), .enqueue("b", at: 2000, .drain), .take(["b"]),
                ]),
        Row(
            name: "a short pass gathers nothing", policy: BatchingPolicy(),
            steps:
                history(images: 1, took: 0.0005, endsAt: 1) + [
                    .announce(at: 2), .announce(at: 2), .enqueue("a", announced: true, at: 2, .drain), .take(["a"]),
                ]),
        Row(
            name: "after a pass the next waits for as many images, and not after its window", policy: BatchingPolicy(),
            steps:
                history(images: 3, took: 1000, endsAt: 1000) + [
                    // Up to a twentieth of the pass after the last arrival, within a tenth after its end.
                    .enqueue("a", at: 1000.2, .wake(at: s(1050.2))),
                    .enqueue("b", images: 2, at: 1001, .drain), .take(["a", "b"]),
                    .pass(images: 3, took: 1000, endsAt: 2001, .none),
                    .enqueue("late", at: 2101.5, .drain), .take(["late"]),
                ]),
        Row(
            name: "fewer than expected go once no more come; each arrival restarts the count", policy: BatchingPolicy(),
            steps:
                history(images: 3, took: 250, endsAt: 250) + [
                    .enqueue("a", at: 250, .wake(at: s(262.5))),
                    .enqueue("b", at: 251, .none),  // the armed timer fires no later: it re-decides then
                    .fire(at: 262.5, .wake(at: s(263.5))), .fire(at: 263.5, .drain), .take(["a", "b"]),
                ]),
        Row(
            name: "the wait after a pass ends with its window", policy: BatchingPolicy(),
            steps:
                history(images: 8, took: 100, endsAt: 100) + [
                    .enqueue("a", at: 100, .wake(at: s(105))), .enqueue("b", at: 104, .none),
                    .fire(at: 105, .wake(at: s(109))), .enqueue("c", at: 108, .none),
                    .fire(at: 109, .wake(at: s(110))), .fire(at: 110, .drain), .take(["a", "b", "c"]),
                ]),
        Row(
            name: "a timer whose requests left does not stall the next", policy: BatchingPolicy(maxBatchSize: 8, maxDelay: .milliseconds(200)),
            steps: [
                .enqueue("a", at: 0, .wake(at: s(0.2))), .cancel("a"), .fire(at: 0.2, .none),
                .enqueue("b", at: 0.5, .wake(at: s(0.7))), .fire(at: 0.7, .drain), .take(["b"]),
            ]),
        Row(
            name: "a cancelled request leaves the queue", policy: BatchingPolicy(),
            steps: [
                .enqueue("a", at: 0, .drain), .enqueue("b", at: 0, .none), .cancel("a"), .take(["b"]),
            ]),
        Row(
            name: "batching off: every request alone", policy: BatchingPolicy(maxBatchSize: 1),
            steps: [
                .announce(at: 0), .enqueue("a", announced: true, at: 0, .drain), .enqueue("b", at: 0, .none),
                .take(["a"], again: true), .take(["b"]),
            ]),
    ]

    @Test(arguments: rows) func rule(_ row: Row) {
        var queue = BatchQueue<String>(policy: row.policy)
        var ids: [String: UInt64] = [:]
        var lastTimer: Int?
        func check(_ action: BatchQueue<String>.Action, _ expected: Expect, _ step: Int) {
            switch action {
            case .none: #expect(expected == .none, "step \(step)")
            case .drain: #expect(expected == .drain, "step \(step)")
            case let .wake(deadline, timer):
                #expect(expected == .wake(at: deadline), "step \(step): woken at \(deadline)")
                lastTimer = timer
            }
        }
        for (number, step) in row.steps.enumerated() {
            switch step {
            case let .enqueue(name, images, size, announced, at, expected):
                let id = UInt64(ids.count + 1)
                ids[name] = id
                check(
                    queue.enqueue(name, id: id, images: images, shape: [3, size, size], announced: announced, now: Self.s(at)),
                    expected, number)
            case let .announce(at):
                queue.announce(now: Self.s(at))
            case let .withdraw(at, expected):
                check(queue.withdraw(now: Self.s(at)), expected, number)
            case let .cancel(name):
                #expect(queue.cancel(id: ids[name]!) == name, "step \(number)")
            case let .fire(at, expected):
                check(queue.timerFired(lastTimer ?? -1, now: Self.s(at)), expected, number)
            case let .take(names, again):
                let taken = queue.takeBatch()
                #expect(taken.batch.map(\.item) == names, "step \(number)")
                #expect(taken.again == again, "step \(number)")
            case let .pass(images, took, endsAt, expected):
                queue.passEnded(images: images, took: Self.s(took), now: Self.s(endsAt))
                check(queue.passFinished(now: Self.s(endsAt)), expected, number)
            }
        }
    }

    /// A timer replaced by a later decision is stale: when it fires, nothing happens.
    @Test func aStaleTimerIsIgnored() {
        var queue = BatchQueue<String>(policy: BatchingPolicy(maxBatchSize: 8, maxDelay: .seconds(1)))
        guard case let .wake(_, first) = queue.enqueue("a", id: 1, images: 1, shape: [1], announced: false, now: .zero) else {
            Issue.record("the first request waits")
            return
        }
        _ = queue.cancel(id: 1)
        #expect(queue.timerFired(first, now: .seconds(1)) == .none)
        guard case let .wake(_, second) = queue.enqueue("b", id: 2, images: 1, shape: [1], announced: false, now: .seconds(2)) else {
            Issue.record("the next request arms a timer of its own")
            return
        }
        #expect(second != first)
        #expect(queue.timerFired(first, now: .seconds(3)) == .none, "the old timer is stale")
        #expect(queue.timerFired(second, now: .seconds(3)) == .drain)
    }
}
