import NIOCore

/// Holds a listening channel's close until every connection it accepted has reached the server.
///
/// A listener accepts a connection, sets it up on the connection's event loop, and only then
/// hands it to the server's stream of connections, whose consumer runs it with
/// `executeThenClose`. If the listener closes in between, the stream has finished and the set-up
/// connection is dropped: the process aborts on its `NIOAsyncWriter`'s deinit, or the request it
/// already sent is never answered. This works around apple/swift-nio#2813 (present in swift-nio
/// 2.101 and Hummingbird 2.28); delete it, with `AcceptGateHandOff`, once a release of
/// swift-nio's `NIOAsyncChannelHandler` buffers set-ups that complete after the stream finished
/// (or Hummingbird's accept loop holds the close itself) and `acceptBurstAtSigtermNeverAborts`
/// passes without it.
///
/// `AcceptGate` goes first in the listening channel's pipeline (nearest the socket) and
/// `AcceptGateHandOff` last. The gate counts each accepted connection as pending; the hand-off
/// marks it handed over once the server's handler has passed it on. From the first `close` on,
/// the gate stops accepting (`autoRead` off, every further `read()` swallowed, so neither the
/// accept backoff nor the connection limit re-arms accepting) and holds the close until no
/// connection is pending, or until `cap` passes (a set-up that failed is never handed over).
/// The close goes on in a later event-loop tick than the last hand-off, after the stream took it.
final class AcceptGate: ChannelDuplexHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel
    typealias OutboundIn = Any
    typealias OutboundOut = Any

    /// How long a close is held for connections that never reach the server.
    static let defaultCap = TimeAmount.seconds(2)

    private let cap: TimeAmount
    private let onClosing: () -> Void
    private var pending: Set<ObjectIdentifier> = []
    private var closing = false
    private var released = false
    private var held: [EventLoopPromise<Void>?] = []
    private var capTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    /// `onClosing` runs once, on the event loop, when the first close arrives.
    init(cap: TimeAmount = AcceptGate.defaultCap, onClosing: @escaping () -> Void = {}) {
        self.cap = cap
        self.onClosing = onClosing
    }

    /// Connections accepted and not yet handed over.
    var pendingCount: Int { pending.count }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        capTimer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.insert(ObjectIdentifier(unwrapInboundIn(data)))
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard !closing else { return }
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, !released else {
            context.close(mode: mode, promise: promise)
            return
        }
        held.append(promise)
        guard !closing else { return }
        closing = true
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        onClosing()
        capTimer = context.eventLoop.assumeIsolated().scheduleTask(in: cap) { [self] in release() }
        releaseWhenHandedOver()
    }

    /// Called by `AcceptGateHandOff` after the server's handler passed `child` on.
    func handedOver(_ child: Channel) {
        pending.remove(ObjectIdentifier(child))
        releaseWhenHandedOver()
    }

    private func releaseWhenHandedOver() {
        guard closing, !released, pending.isEmpty, let context else { return }
        // The server's handler hands a connection to its stream just after passing it on, in
        // the same tick: the close waits for the next one.
        context.eventLoop.assumeIsolated().execute { [self] in
            if pending.isEmpty { release() }
        }
    }

    private func release() {
        guard !released, let context else { return }
        released = true
        capTimer?.cancel()
        capTimer = nil
        let promises = held
        held = []
        for promise in promises { context.close(mode: .all, promise: promise) }
    }
}

/// The last handler of a listening channel: tells `AcceptGate` that a connection was handed over.
final class AcceptGateHandOff: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    private let gate: AcceptGate

    init(gate: AcceptGate) { self.gate = gate }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        context.fireChannelRead(data)
        gate.handedOver(child)
    }
}

extension Channel {
    /// Installs `AcceptGate` first and `AcceptGateHandOff` last in this listening channel's
    /// pipeline; `onClosing` runs on the event loop when the listener starts to close.
    func installAcceptGate(cap: TimeAmount = AcceptGate.defaultCap, onClosing: @escaping @Sendable () -> Void) async throws {
        try await eventLoop.submit { [self] in
            let gate = AcceptGate(cap: cap, onClosing: onClosing)
            try pipeline.syncOperations.addHandler(gate, position: .first)
            try pipeline.syncOperations.addHandler(AcceptGateHandOff(gate: gate), position: .last)
        }.get()
    }
}
