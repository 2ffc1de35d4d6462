import NIOCore
import Testing

@testable import NFServer

/// The rules of one connection (`ConnectionState`) over synthetic time: each row a script of
/// events and when they happen, with the deadline the connection must then close at (or none)
/// and the counts it must report. No clock, no sleep, no socket.
@Suite struct ConnectionStateTests {
    static let limits = ConnectionLimits(
        headerTimeout: .seconds(60), bodyTimeout: .seconds(30),
        keepAliveTimeout: .seconds(75), maxConnections: 2)

    static func t(_ seconds: Double) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000_000_000_000 + seconds * 1e9)) }

    struct Step: Sendable {
        let event: ConnectionState.Event
        let at: Double
        /// The actions expected among those answered (others may come too).
        let expects: [ConnectionState.Action]
        /// When the connection closes after this step, if no other event comes; nil: no close due.
        let closesAt: Double?

        init(_ event: ConnectionState.Event, at: Double, expects: [ConnectionState.Action] = [], closesAt: Double?) {
            (self.event, self.at, self.expects, self.closesAt) = (event, at, expects, closesAt)
        }
    }

    struct Row: CustomTestStringConvertible, Sendable {
        let name: String
        let steps: [Step]
        var testDescription: String { name }
    }

    static let open = ConnectionState.Event.opened(open: 1, acceptingStopped: false)

    static let rows: [Row] = [
        Row(
            name: "a head that never comes: closed after the header timeout",
            steps: [
                Step(open, at: 0, expects: [.countOpened], closesAt: 60),
                Step(.timerFired, at: 60, expects: [.close], closesAt: nil),
            ]),
        Row(
            name: "a stalled body: closed after the body timeout, from its last read",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, expects: [.requestsStarted(1), .forward], closesAt: 31),
                Step(.read(.body), at: 10, expects: [.forward], closesAt: 40),
                Step(.timerFired, at: 40, expects: [.close], closesAt: nil),
            ]),
        Row(
            name: "a request read whole waits for its answer without a deadline",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31),
                Step(.read(.end), at: 2, expects: [.cancelTimer, .forward], closesAt: nil),
                Step(.responseHead(closesConnection: false), at: 500, closesAt: nil),
            ]),
        Row(
            name: "idle after a response: closed after the keep-alive timeout",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31),
                Step(.read(.end), at: 1, closesAt: nil),
                Step(.responseHead(closesConnection: false), at: 2, closesAt: nil),
                Step(.responseEnd, at: 2, expects: [.requestsEnded(1)], closesAt: 77),
                Step(.timerFired, at: 77, expects: [.close], closesAt: nil),
            ]),
        Row(
            name: "a keep-alive connection in use stays open",
            steps: [Step(open, at: 0, closesAt: 60)]
                + (0..<6).flatMap { i -> [Step] in
                    let at = Double(i) * 70
                    return [
                        Step(.read(.head), at: at + 1, closesAt: at + 31), Step(.read(.end), at: at + 1, closesAt: nil),
                        Step(.responseEnd, at: at + 2, closesAt: at + 77),
                    ]
                }),
        Row(
            name: "answered before its body was read: idle from the body's end",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31),
                Step(.responseHead(closesConnection: false), at: 1, closesAt: 31),
                Step(.responseEnd, at: 1, expects: [.requestsEnded(1)], closesAt: 31),
                Step(.read(.body), at: 5, closesAt: 35),
                Step(.read(.end), at: 6, closesAt: 81),
                Step(.timerFired, at: 81, expects: [.close], closesAt: nil),
            ]),
        Row(
            name: "Connection: close after the whole request: closed once the answer is flushed",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31), Step(.read(.end), at: 1, closesAt: nil),
                Step(.responseHead(closesConnection: true), at: 2, closesAt: nil),
                Step(.responseEnd, at: 2, expects: [.flush], closesAt: 2),
            ]),
        Row(
            name: "an early 413 with Connection: close lingers: reads dropped, each within 2 s, 10 s in all",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31),
                Step(.responseHead(closesConnection: true), at: 1, closesAt: 31),
                Step(.responseEnd, at: 1, expects: [.flush], closesAt: 3),
                Step(.read(.body), at: 2.5, expects: [], closesAt: 4.5),
                Step(.read(.body), at: 9.5, expects: [], closesAt: 11),
                Step(.read(.body), at: 10.5, expects: [], closesAt: 11),
                Step(.timerFired, at: 11, expects: [.close], closesAt: nil),
            ]),
        Row(
            name: "over the connection limit: refused on its head, or closed within 5 s",
            steps: [
                Step(.opened(open: 3, acceptingStopped: false), at: 0, expects: [.countOpened], closesAt: 5),
                Step(.read(.head), at: 1, expects: [.cancelTimer, .refuse], closesAt: nil),
                Step(.read(.end), at: 1, expects: [], closesAt: nil),
            ]),
        Row(
            name: "a shutdown before the first head waits 2 s for it and goes on with it",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.quiesce, at: 10, expects: [], closesAt: 12),
                Step(.read(.head), at: 11, expects: [.forwardThenQuiesce], closesAt: 41),
            ]),
        Row(
            name: "a shutdown with a request in progress is passed on at once",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31), Step(.read(.end), at: 1, closesAt: nil),
                Step(.quiesce, at: 2, expects: [.passQuiesce], closesAt: nil),
            ]),
        Row(
            name: "set up after the listener closed: quiesced with its first request, or closed in 2 s",
            steps: [
                Step(.opened(open: 1, acceptingStopped: true), at: 0, closesAt: 2),
                Step(.timerFired, at: 2, expects: [.close], closesAt: nil),
            ]),
        Row(
            name: "a request read whole and unanswered when the server closes is dropped",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31), Step(.read(.end), at: 1, closesAt: nil),
                Step(.serverCloses, at: 2, expects: [.requestsDropped(1), .requestsEnded(1)], closesAt: nil),
                Step(.gone, at: 2, expects: [.countClosed, .clientLeft], closesAt: nil),
            ]),
        Row(
            name: "a half-read request is not dropped; its count ends when the connection goes",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31),
                Step(.serverCloses, at: 2, expects: [], closesAt: 31),
                Step(.gone, at: 2, expects: [.cancelTimer, .countClosed, .requestsEnded(1), .clientLeft], closesAt: nil),
            ]),
        Row(
            name: "a client that closed its side has left: its request is not dropped",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31), Step(.read(.end), at: 1, closesAt: nil),
                Step(.inputClosed, at: 2, expects: [.clientLeft], closesAt: nil),
                Step(.serverCloses, at: 3, expects: [.requestsEnded(1)], closesAt: nil),
            ]),
        Row(
            name: "a stale timer does not close",
            steps: [
                Step(open, at: 0, closesAt: 60),
                Step(.read(.head), at: 1, closesAt: 31),
                Step(.timerFired, at: 20, expects: [.closeAt(t(31))], closesAt: 31),
            ]),
    ]

    @Test(arguments: rows) func rule(_ row: Row) {
        var state = ConnectionState(limits: Self.limits)
        for (number, step) in row.steps.enumerated() {
            let actions = state.on(step.event, now: Self.t(step.at))
            for expected in step.expects {
                #expect(actions.contains(expected), "step \(number) (\(step.event)): \(actions)")
            }
            #expect(state.deadline == step.closesAt.map(Self.t), "step \(number) (\(step.event)): closes at \(String(describing: state.deadline))")
        }
    }

    /// Reads dropped while refused or lingering are never passed on.
    @Test func droppedReadsAreNotForwarded() {
        var refused = ConnectionState(limits: Self.limits)
        _ = refused.on(.opened(open: 3, acceptingStopped: false), now: Self.t(0))
        #expect(!refused.on(.read(.head), now: Self.t(1)).contains(.forward))
        #expect(refused.on(.read(.body), now: Self.t(1)).isEmpty)
        var lingering = ConnectionState(limits: Self.limits)
        _ = lingering.on(Self.open, now: Self.t(0))
        _ = lingering.on(.read(.head), now: Self.t(0))
        _ = lingering.on(.responseHead(closesConnection: true), now: Self.t(0))
        _ = lingering.on(.responseEnd, now: Self.t(0))
        #expect(lingering.on(.read(.body), now: Self.t(1)) == [.closeAt(Self.t(3))])
    }
}
