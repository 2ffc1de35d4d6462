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

    public init(
        headerTimeout: Duration = .seconds(60), bodyTimeout: Duration = .seconds(60),
        keepAliveTimeout: Duration = .seconds(75), maxConnections: Int = 1024
    ) {
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

/// One per connection, between the HTTP codec and Hummingbird: the driver of
/// `ConnectionState`, which decides; this handler feeds it the channel's events with the event
/// loop's time (`EventLoop.now`, virtual on an `EmbeddedEventLoop`), keeps its one close timer,
/// and does what it answers: pass parts on, answer a connection over the limit with a JSON 503,
/// close, count in the server's `ConnectionCounter`, tell waiting requests their client left.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var state: ConnectionState
    private let counter: ConnectionCounter
    private var timer: Scheduled<Void>?
    /// Called once when the client closes its side or the connection goes (`whenClientLeaves`).
    private var leaveCallbacks: [Int: @Sendable () -> Void] = [:]
    private var nextLeaveCallback = 0

    /// The client closed its side (TCP FIN): it sends nothing more, and a long request it is
    /// waiting for may stop (`ConnectionWatch`). Hummingbird allows half-closure, so the channel
    /// itself stays active until the response is written.
    var inputClosed: Bool { state.inputClosed }

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        state = ConnectionState(limits: limits)
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
        handle(.gone, context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handle(.gone, context)
    }

    private func opened(_ context: ChannelHandlerContext) {
        guard !state.counted else { return }
        handle(.opened(open: counter.opened(), acceptingStopped: counter.acceptingStopped), context)
    }

    /// Calls `callback` (on the event loop) when the client closes its side or the connection
    /// goes, at once if it has; returns an id for `forget` while it has not.
    func whenClientLeaves(_ callback: @escaping @Sendable () -> Void) -> Int? {
        if state.inputClosed {
            callback()
            return nil
        }
        nextLeaveCallback += 1
        leaveCallbacks[nextLeaveCallback] = callback
        return nextLeaveCallback
    }

    /// The request finished: its callback is no longer wanted.
    func forget(_ id: Int) { leaveCallbacks[id] = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: ConnectionState.Read
        switch unwrapInboundIn(data) {
        case .head: part = .head
        case .body: part = .body
        case .end: part = .end
        }
        handle(.read(part), context, read: data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(head):
            if head.status.kind != .informational {
                handle(.responseHead(closesConnection: head.headerFields[.connection]?.lowercased() == "close"), context)
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            let actions = state.on(.responseEnd, now: context.eventLoop.now)
            if actions.contains(.flush) {
                context.writeAndFlush(data, promise: promise)
            } else {
                context.write(data, promise: promise)
            }
            perform(actions, context)
        }
    }

    /// A close the server decides on: its requests read and unanswered are dropped.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode != .input { handle(.serverCloses, context) }
        context.close(mode: mode, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            handle(.inputClosed, context)
        }
        if event is ChannelShouldQuiesceEvent {
            handle(.quiesce, context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func handle(_ event: ConnectionState.Event, _ context: ChannelHandlerContext, read: NIOAny? = nil) {
        perform(state.on(event, now: context.eventLoop.now), context, read: read)
    }

    private func perform(_ actions: [ConnectionState.Action], _ context: ChannelHandlerContext, read: NIOAny? = nil) {
        for action in actions {
            switch action {
            case .forward:
                if let read { context.fireChannelRead(read) }
            case .forwardThenQuiesce:
                if let read { context.fireChannelRead(read) }
                context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            case .passQuiesce:
                context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            case .refuse:
                refuse(context)
            case .flush:
                break  // done by `write`, which sees it first
            case let .closeAt(deadline):
                timer?.cancel()
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                    loopBound.value.handle(.timerFired, contextBound.value)
                }
            case .cancelTimer:
                timer?.cancel()
                timer = nil
            case .close:
                timer = nil
                context.channel.close(promise: nil)
            case .countOpened:
                break  // counted by `opened`: the event carries the number the counter gave
            case .countClosed:
                counter.closed()
            case let .requestsStarted(n):
                counter.requestsStarted(n)
            case let .requestsEnded(n):
                counter.requestsEnded(n)
            case let .requestsDropped(n):
                counter.requestsDropped(n)
            case .clientLeft:
                let callbacks = leaveCallbacks.values
                leaveCallbacks = [:]
                for callback in callbacks { callback() }
            }
        }
    }

    /// Answers a connection over the limit and closes it.
    private func refuse(_ context: ChannelHandlerContext) {
        let body = ByteBuffer(
            string: #"{"error":"too many open connections (the server's limit is \#(state.limits.maxConnections)); retry shortly"}"#)
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
}
