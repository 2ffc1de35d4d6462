import NIOCore

/// What one connection's guard decides, as a state machine: it is told what happened on the
/// connection and when (`now`), and answers what to do (`ConnectionState.Action`); it reads no
/// clock and touches no channel. `ConnectionGuard` drives it from the channel's events with
/// the event loop's clock and one timer.
///
/// The rules: a connection closes when its first request head does not arrive within
/// `headerTimeout`, when a body stalls for `bodyTimeout`, or when it idles `keepAliveTimeout`
/// after a response; one over `maxConnections` is answered 503 on its first head and closed (or
/// closed after `refusedHeaderTimeout`). After a `Connection: close` response sent before its
/// request was read to its end, the rest is read and dropped for up to `lingerTotal` (each read
/// within `lingerIdle`: nginx's lingering close). A shutdown that reaches a connection before
/// its first head waits `quiesceHeadWait` for it and passes the shutdown on with it. Requests
/// read to their end and not answered when the server closes the connection are counted as
/// dropped, unless the client had closed its side first.
struct ConnectionState {
    enum Read: Equatable { case head, body, end }

    enum Event: Equatable {
        /// The connection is up: `open` connections with it; whether the listener had stopped accepting.
        case opened(open: Int, acceptingStopped: Bool)
        /// A part of a request was read.
        case read(Read)
        /// A final response head was written; whether it says `Connection: close`.
        case responseHead(closesConnection: Bool)
        /// A response ended.
        case responseEnd
        /// The client closed its sending side.
        case inputClosed
        /// The server is shutting down (graceful quiesce).
        case quiesce
        /// The timer of the last `closeAt` went off.
        case timerFired
        /// The server closes the connection (not only its input).
        case serverCloses
        /// The connection is gone.
        case gone
    }

    enum Action: Equatable {
        /// Pass the part read on.
        case forward
        /// Pass the head read on, then the shutdown.
        case forwardThenQuiesce
        /// Pass the shutdown on.
        case passQuiesce
        /// Answer 503 (too many connections) and close.
        case refuse
        /// Flush the response's end (the connection closes after it).
        case flush
        /// Close the connection at `deadline` (replacing any earlier close).
        case closeAt(NIODeadline)
        /// No close is due.
        case cancelTimer
        /// Close the connection now.
        case close
        /// Count the connection as open / closed in the server's counter.
        case countOpened, countClosed
        /// Count requests as started, ended (answered or given up), dropped.
        case requestsStarted(Int), requestsEnded(Int), requestsDropped(Int)
        /// Tell the requests waiting on this client that it has left.
        case clientLeft
    }

    static let quiesceHeadWait = TimeAmount.seconds(2)
    static let lingerIdle = TimeAmount.seconds(2)
    static let lingerTotal = TimeAmount.seconds(10)

    let limits: ConnectionLimits
    /// The connection was counted open (`opened` is told once, however often it comes).
    private(set) var counted = false
    private(set) var refused = false
    /// When the connection closes unless something happens first.
    private(set) var deadline: NIODeadline?
    /// Requests whose head was read and whose response has not ended.
    private(set) var inFlight = 0
    private var readingBody = false
    private var closeAfterResponse = false
    /// While lingering: when the lingering ends.
    private var lingerDeadline: NIODeadline?
    /// Requests whose head was read on this connection so far.
    private var requestsSeen = 0
    /// A shutdown came before the first head: it goes on with the head.
    private var quiescePending = false
    /// The client closed its side.
    private(set) var inputClosed = false

    init(limits: ConnectionLimits) { self.limits = limits }

    mutating func on(_ event: Event, now: NIODeadline) -> [Action] {
        switch event {
        case let .opened(open, acceptingStopped):
            guard !counted else { return [] }
            counted = true
            refused = open > limits.maxConnections
            // The listener closed while this connection was being set up: the shutdown sent to
            // the open connections may have reached it before its guard existed.
            if acceptingStopped, !refused {
                quiescePending = true
                return [.countOpened, closeAt(now + Self.quiesceHeadWait)]
            }
            return [.countOpened, closeAt(now + TimeAmount(refused ? limits.refusedHeaderTimeout : limits.headerTimeout))]

        case let .read(part):
            if let lingerDeadline {
                return [closeAt(min(now + Self.lingerIdle, max(lingerDeadline, now)))]
            }
            if refused { return part == .head ? [cancelTimer(), .refuse] : [] }
            switch part {
            case .head:
                inFlight += 1
                requestsSeen += 1
                readingBody = true
                let actions: [Action] = [.requestsStarted(1), closeAt(now + TimeAmount(limits.bodyTimeout))]
                if quiescePending {
                    quiescePending = false
                    return actions + [.forwardThenQuiesce]
                }
                return actions + [.forward]
            case .body:
                return (readingBody ? [closeAt(now + TimeAmount(limits.bodyTimeout))] : []) + [.forward]
            case .end:
                readingBody = false
                // Answered before its body was read (a 404 for an unknown model): idle from now.
                return [inFlight == 0 ? closeAt(now + TimeAmount(limits.keepAliveTimeout)) : cancelTimer(), .forward]
            }

        case let .responseHead(closes):
            if closes { closeAfterResponse = true }
            return []

        case .responseEnd:
            var actions: [Action] = []
            if inFlight > 0 {
                inFlight -= 1
                actions.append(.requestsEnded(1))
            }
            if closeAfterResponse {
                if readingBody {
                    lingerDeadline = now + Self.lingerTotal
                    return actions + [.flush, closeAt(now + Self.lingerIdle)]
                }
                return actions + [.flush, closeAt(now)]
            }
            if inFlight == 0, !readingBody { actions.append(closeAt(now + TimeAmount(limits.keepAliveTimeout))) }
            return actions

        case .inputClosed:
            inputClosed = true
            return [.clientLeft]

        case .quiesce:
            // Hummingbird closes a connection with no request in progress at once; for one whose
            // first request has not arrived yet, that would drop a request already sent.
            if requestsSeen == 0, inFlight == 0, !refused {
                quiescePending = true
                return [closeAt(now + Self.quiesceHeadWait)]
            }
            return [.passQuiesce]

        case .timerFired:
            guard let deadline else { return [] }
            guard now >= deadline else { return [.closeAt(deadline)] }
            self.deadline = nil
            return [.close]

        case .serverCloses:
            let read = inFlight - (readingBody ? 1 : 0)
            guard read > 0 else { return [] }
            inFlight -= read
            return (inputClosed ? [] : [.requestsDropped(read)]) + [.requestsEnded(read)]

        case .gone:
            var actions = [cancelTimer()]
            if counted {
                counted = false
                actions.append(.countClosed)
            }
            if inFlight > 0 {
                actions.append(.requestsEnded(inFlight))
                inFlight = 0
            }
            return actions + [.clientLeft]
        }
    }

    private mutating func closeAt(_ deadline: NIODeadline) -> Action {
        self.deadline = deadline
        return .closeAt(deadline)
    }

    private mutating func cancelTimer() -> Action {
        deadline = nil
        return .cancelTimer
    }
}
