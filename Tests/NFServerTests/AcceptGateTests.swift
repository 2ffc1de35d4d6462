import NIOCore
import NIOEmbedded
import Testing

@testable import NFServer

/// `AcceptGate` on an embedded listening channel: accepted connections are written in as
/// inbound `Channel`s, a handler in the middle stands for the server's (it holds each until the
/// test passes it on, as a connection still being set up is held), and the embedded loop's
/// time replaces the real clock.
@Suite struct AcceptGateTests {
    /// The server's handler: holds each accepted connection until `passOn`.
    final class SetUp: ChannelInboundHandler {
        typealias InboundIn = Channel
        typealias InboundOut = Channel
        var held: [(ChannelHandlerContext, NIOAny)] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) { held.append((context, data)) }

        func passOn() {
            let (context, data) = held.removeFirst()
            context.fireChannelRead(data)
        }
    }

    /// Counts the `read()`s that get past the gate to the socket.
    final class Reads: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var count = 0
        func read(context: ChannelHandlerContext) {
            count += 1
            context.read()
        }
    }

    final class Closed { var isFulfilled = false }

    struct Listener {
        let channel = EmbeddedChannel()
        let setUp = SetUp()
        let reads = Reads()
        let gate: AcceptGate

        init(closing: @escaping () -> Void = {}) throws {
            gate = AcceptGate(onClosing: closing)
            try channel.pipeline.syncOperations.addHandler(reads)
            try channel.pipeline.syncOperations.addHandler(gate)
            try channel.pipeline.syncOperations.addHandler(setUp)
            try channel.pipeline.syncOperations.addHandler(AcceptGateHandOff(gate: gate))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        }

        func accept() throws {
            try channel.writeInbound(EmbeddedChannel() as Channel)
        }

        /// Starts closing the listener; the returned flag turns true when the close went through.
        func close() -> Closed {
            let closed = Closed()
            channel.close().assumeIsolated().whenComplete { _ in closed.isFulfilled = true }
            return closed
        }
    }

    @Test func aHeldCloseWaitsForEveryPendingConnection() throws {
        let listener = try Listener()
        try listener.accept()
        try listener.accept()
        #expect(listener.gate.pendingCount == 2)
        let closed = listener.close()
        listener.channel.embeddedEventLoop.run()
        #expect(!closed.isFulfilled && listener.channel.isActive, "held while two connections are being set up")

        listener.setUp.passOn()
        listener.channel.embeddedEventLoop.run()
        #expect(!closed.isFulfilled && listener.channel.isActive, "one handed over, one still pending")

        listener.setUp.passOn()
        #expect(listener.gate.pendingCount == 0)
        #expect(!closed.isFulfilled, "the close waits for the tick after the last hand-off")
        listener.channel.embeddedEventLoop.run()
        #expect(closed.isFulfilled && !listener.channel.isActive)
        let connections = try (0..<2).map { _ in try listener.channel.readInbound(as: Channel.self) }
        #expect(connections.allSatisfy { $0 != nil }, "both reached the end of the pipeline")
    }

    @Test func aCloseWithNothingPendingGoesOnInTheNextTick() throws {
        let listener = try Listener()
        try listener.accept()
        listener.setUp.passOn()
        let closed = listener.close()
        listener.channel.embeddedEventLoop.run()
        #expect(closed.isFulfilled && !listener.channel.isActive)
    }

    @Test func readsAreSwallowedOnceClosingBegins() throws {
        var closings = 0
        let listener = try Listener(closing: { closings += 1 })
        listener.channel.read()
        #expect(listener.reads.count == 1, "accepting reads pass before the close")
        try listener.accept()
        let closed = listener.close()
        _ = listener.close()
        #expect(closings == 1, "the listener is told once that accepting stopped")
        listener.channel.read()
        listener.channel.read()
        #expect(listener.reads.count == 1, "a read after the close would re-arm accepting")
        listener.setUp.passOn()
        listener.channel.embeddedEventLoop.run()
        #expect(closed.isFulfilled)
    }

    @Test func theCapReleasesACloseWhoseConnectionNeverArrives() throws {
        let listener = try Listener()
        try listener.accept()
        let closed = listener.close()
        listener.channel.embeddedEventLoop.advanceTime(by: AcceptGate.defaultCap - .milliseconds(1))
        #expect(!closed.isFulfilled && listener.channel.isActive, "held until the cap")
        listener.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(closed.isFulfilled && !listener.channel.isActive, "a set-up that failed is never handed over: the cap closes")
    }

    @Test func connectionsAcceptedWhileTheCloseIsHeldAreWaitedFor() throws {
        let listener = try Listener()
        try listener.accept()
        let closed = listener.close()
        // The last accept batch the socket had already started.
        try listener.accept()
        listener.setUp.passOn()
        listener.channel.embeddedEventLoop.run()
        #expect(!closed.isFulfilled, "the late connection is pending too")
        listener.setUp.passOn()
        listener.channel.embeddedEventLoop.run()
        #expect(closed.isFulfilled)
    }
}
