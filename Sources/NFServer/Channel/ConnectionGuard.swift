import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How long a client may take and how many may be connected. The defaults are nginx's
/// (`client_header_timeout` 60 s, `client_body_timeout` 60 s, `keepalive_timeout` 75 s).
public struct ConnectionLimits: Sendable, Equatable {
    /// From a connection's opening to its first complete request head.
    public var headerTimeout: Duration
    /// Between two reads of a request body (a stalled upload).
    public var bodyTimeout: Duration
    /// From the end of a response to the next complete request head (idle keep-alive).
    public var keepAliveTimeout: Duration
    /// Open connections served; one more is answered 503 and closed.
    public var maxConnections: Int

    public init(headerTimeout: Duration = .seconds(60), bodyTimeout: Duration = .seconds(60),
                keepAliveTimeout: Duration = .seconds(75), maxConnections: Int = 1024) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.maxConnections = maxConnections
    }

    /// How long a connection over `maxConnections` may take to send the head it is refused on.
    var refusedHeaderTimeout: Duration { min(headerTimeout, .seconds(5)) }
}

/// The connections of one server, shared by every connection's `ConnectionGuard` and the
/// listener's `AcceptGate`: how many are open, how many requests wait for their response, how
/// many requests were dropped, and whether the listener has stopped accepting.
public final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    private let unanswered = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let onDropped = Mutex<[@Sendable (Int) -> Void]>([])

    public init() {}

    /// `callback` is told of each drop from now on (the metrics count them).
    func onDrop(_ callback: @escaping @Sendable (Int) -> Void) {
        onDropped.withLock { $0.append(callback) }
    }

    /// Counts a new connection; returns how many are open with it.
    func opened() -> Int { open.wrappingAdd(1, ordering: .relaxed).newValue }
    func closed() { open.wrappingSubtract(1, ordering: .relaxed) }

    /// Connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }
    /// Requests whose head was read and whose response has not been written.
    public var unansweredRequests: Int { unanswered.load(ordering: .relaxed) }
    /// Requests read to their end whose connection the server closed before it wrote their
    /// response, the client still there: 0 unless a shutdown ran out of time (or a bug).
    public var droppedRequests: Int { dropped.load(ordering: .relaxed) }

    func requestsStarted(_ n: Int) { unanswered.wrappingAdd(n, ordering: .relaxed) }
    func requestsEnded(_ n: Int) { unanswered.wrappingSubtract(n, ordering: .relaxed) }
    func requestsDropped(_ n: Int) {
        dropped.wrappingAdd(n, ordering: .relaxed)
        for callback in onDropped.withLock({ $0 }) { callback(n) }
    }

    /// Whether the listener has begun to close: a connection set up from now on was accepted
    /// before it and may have missed the quiesce sent to the open ones.
    var acceptingStopped: Bool { stopped.load(ordering: .relaxed) }
    func stopAccepting() { stopped.store(true, ordering: .relaxed) }
}

/// One per connection, between the HTTP codec and Hummingbird: enforces `ConnectionLimits`
/// (closing a connection that is too slow to send its head or body, or idle too long), refuses
/// a connection over the limit with a JSON 503, and closes the connection after a response
/// that says `Connection: close` (the 413 for a body the server will not read), so a client
/// still uploading is not left waiting for a reader that never comes.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private var counted = false
    private var refused = false
    private var timer: Scheduled<Void>?
    /// Requests whose head was read and whose response has not ended.
    private var inFlight = 0
    private var readingBody = false
    private var closeAfterResponse = false
    /// After a `Connection: close` response sent before the request was read to its end: the
    /// rest is read and dropped for a while (nginx's lingering close), so that a client still
    /// uploading finishes its write and reads the answer instead of meeting a reset.
    private var lingerDeadline: NIODeadline?
    /// Requests whose head was read on this connection so far.
    private var requestsSeen = 0
    /// Graceful shutdown arrived before this connection's first request head: the head is
    /// waited for (a client that connected just before has sent its request) and the shutdown
    /// passed on with it, so that request is answered and then the connection closes.
    private var quiescePending = false
    /// The client closed its side (TCP FIN): it sends nothing more, and a long request it is
    /// waiting for may stop (`ConnectionWatch`). Hummingbird allows half-closure, so the channel
    /// itself stays active until the response is written.
    private(set) var inputClosed = false
    /// Called once when the client closes its side or the connection goes (`whenClientLeaves`).
    private var leaveCallbacks: [Int: @Sendable () -> Void] = [:]
    private var nextLeaveCallback = 0
    static let quiesceHeadWait = TimeAmount.seconds(2)
    static let lingerIdle = TimeAmount.seconds(2)
    static let lingerTotal = TimeAmount.seconds(10)

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { opened(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        opened(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed()
        clientLeft()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed()
        clientLeft()
    }

    /// Calls `callback` (on the event loop) when the client closes its side or the connection
    /// goes, at once if it has; returns an id for `forget` while it has not.
    func whenClientLeaves(_ callback: @escaping @Sendable () -> Void) -> Int? {
        if inputClosed {
            callback()
            return nil
        }
        nextLeaveCallback += 1
        leaveCallbacks[nextLeaveCallback] = callback
        return nextLeaveCallback
    }

    /// The request finished: its callback is no longer wanted.
    func forget(_ id: Int) { leaveCallbacks[id] = nil }

    private func clientLeft() {
        let callbacks = leaveCallbacks.values
        leaveCallbacks = [:]
        for callback in callbacks { callback() }
    }

    private func opened(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        refused = counter.opened() > limits.maxConnections
        schedule(context, after: refused ? limits.refusedHeaderTimeout : limits.headerTimeout)
        // The listener closed while this connection was being set up: the quiesce sent to the
        // open connections may have reached it before this handler existed.
        if counter.acceptingStopped, !refused { quiesceBeforeFirstHead(context) }
    }

    private func closed() {
        cancelTimer()
        if counted {
            counted = false
            counter.closed()
        }
        if inFlight > 0 {
            counter.requestsEnded(inFlight)
            inFlight = 0
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if let lingerDeadline {
            let remaining = lingerDeadline - .now()
            scheduleClose(context, after: min(Self.lingerIdle, max(remaining, .zero)))
            return
        }
        if refused {
            if case .head = part { refuse(context) }
            return
        }
        switch part {
        case .head:
            inFlight += 1
            counter.requestsStarted(1)
            requestsSeen += 1
            readingBody = true
            schedule(context, after: limits.bodyTimeout)
            if quiescePending {
                quiescePending = false
                context.fireChannelRead(data)
                context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                return
            }
        case .body:
            if readingBody { schedule(context, after: limits.bodyTimeout) }
        case .end:
            readingBody = false
            if inFlight == 0 {
                // Answered before its body was read (a 404 for an unknown model): idle from now.
                schedule(context, after: limits.keepAliveTimeout)
            } else {
                cancelTimer()
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(head):
            if head.status.kind != .informational, head.headerFields[.connection]?.lowercased() == "close" {
                closeAfterResponse = true
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if inFlight > 0 {
                inFlight -= 1
                counter.requestsEnded(1)
            }
            if closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                if readingBody {
                    lingerDeadline = .now() + Self.lingerTotal
                    scheduleClose(context, after: Self.lingerIdle)
                } else {
                    scheduleClose(context, after: .zero)
                }
                return
            }
            if inFlight == 0, !readingBody {
                schedule(context, after: limits.keepAliveTimeout)
            }
            context.write(data, promise: promise)
        }
    }

    /// A close the server decides on: the requests read to their end and not yet answered on
    /// this connection are counted as dropped, unless the client had closed its side first (it
    /// left, and a long request it was waiting for stops unanswered: nginx's 499).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let read = inFlight - (readingBody ? 1 : 0)
        if mode != .input, read > 0 {
            if !inputClosed { counter.requestsDropped(read) }
            counter.requestsEnded(read)
            inFlight -= read
        }
        context.close(mode: mode, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            clientLeft()
        }
        // Hummingbird's connection handler closes a connection with no request in progress at
        // once; for one whose first request has not arrived yet, that would drop a request
        // the client has already sent.
        if event is ChannelShouldQuiesceEvent, requestsSeen == 0, inFlight == 0, !refused {
            quiesceBeforeFirstHead(context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Shutdown reached this connection before its first request head: the head is waited for
    /// a while and the quiesce passed on with it.
    private func quiesceBeforeFirstHead(_ context: ChannelHandlerContext) {
        quiescePending = true
        scheduleClose(context, after: Self.quiesceHeadWait)
    }

    /// Answers a connection over the limit and closes it.
    private func refuse(_ context: ChannelHandlerContext) {
        cancelTimer()
        let body = ByteBuffer(string: #"{"error":"too many open connections (the server's limit is \#(limits.maxConnections)); retry shortly"}"#)
        var head = HTTPResponse(status: .serviceUnavailable)
        head.headerFields[.contentType] = "application/json; charset=utf-8"
        head.headerFields[.contentLength] = "\(body.readableBytes)"
        head.headerFields[.connection] = "close"
        head.headerFields[.retryAfter] = "1"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// Closes the connection after `delay` unless rescheduled or cancelled first.
    private func schedule(_ context: ChannelHandlerContext, after delay: Duration) {
        scheduleClose(context, after: TimeAmount(delay))
    }

    private func scheduleClose(_ context: ChannelHandlerContext, after delay: TimeAmount) {
        cancelTimer()
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            channel.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}
