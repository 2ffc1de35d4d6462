import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import NFServer

/// `ConnectionGuard` (the driver of `ConnectionState`) on an embedded connection, over the
/// event loop's virtual time (`advanceTime`): the timeouts, the count of dropped requests, and a
/// quiesce that reached the connection before its handlers existed.
@Suite struct ConnectionGuardTests {
    /// Records what passes the guard inbound: the parts and the quiesce events, in order.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = HTTPRequestPart
        var seen: [String] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: seen.append("head")
            case .body: seen.append("body")
            case .end: seen.append("end")
            }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { seen.append("quiesce") }
        }
    }

    static func connection(_ counter: ConnectionCounter, limits: ConnectionLimits = ConnectionLimits()) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, counter: counter))
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return (channel, recorder)
    }

    static let head = HTTPRequestPart.head(HTTPRequest(method: .get, scheme: nil, authority: "localhost", path: "/v2/health/live"))

    @Test func aRequestReadAndUnansweredWhenTheServerClosesIsDropped() throws {
        let counter = ConnectionCounter()
        let (channel, _) = try Self.connection(counter)
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(counter.unansweredRequests == 1)
        try channel.close().wait()
        #expect(counter.droppedRequests == 1)
        #expect(counter.unansweredRequests == 0)
    }

    @Test func answeredOrHalfReadRequestsAreNotDropped() throws {
        let counter = ConnectionCounter()
        let (answered, _) = try Self.connection(counter)
        try answered.writeInbound(Self.head)
        try answered.writeInbound(HTTPRequestPart.end(nil))
        try answered.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try answered.writeOutbound(HTTPResponsePart.end(nil))
        try answered.close().wait()
        // A body still arriving when the server closes (a stalled upload's timeout) was never read whole.
        let (uploading, _) = try Self.connection(counter)
        try uploading.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .put, scheme: nil, authority: "localhost", path: "/predictions/x")))
        try uploading.close().wait()
        // A client that closed its side while waiting has left: its request stops unanswered (499).
        let (left, _) = try Self.connection(counter)
        try left.writeInbound(Self.head)
        try left.writeInbound(HTTPRequestPart.end(nil))
        left.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        try left.close().wait()
        #expect(counter.droppedRequests == 0)
        #expect(counter.unansweredRequests == 0)
    }

    @Test func aConnectionSetUpAfterTheListenerClosedIsQuiescedWithItsFirstRequest() throws {
        let counter = ConnectionCounter()
        counter.stopAccepting()
        let (channel, recorder) = try Self.connection(counter)
        #expect(recorder.seen.isEmpty, "no request yet: nothing to pass on")
        try channel.writeInbound(Self.head)
        #expect(recorder.seen == ["head", "quiesce"], "the request is served, then the connection closes")
        _ = try? channel.finish()
    }

    @Test func aConnectionSetUpAfterTheListenerClosedClosesIfNoRequestComes() throws {
        let counter = ConnectionCounter()
        counter.stopAccepting()
        let (channel, _) = try Self.connection(counter)
        channel.embeddedEventLoop.advanceTime(by: ConnectionState.quiesceHeadWait)
        #expect(!channel.isActive)
    }

    static let limits = ConnectionLimits(
        headerTimeout: .milliseconds(300), bodyTimeout: .milliseconds(300),
        keepAliveTimeout: .milliseconds(300))
    static let put = HTTPRequestPart.head(HTTPRequest(method: .put, scheme: nil, authority: "localhost", path: "/predictions/tiny"))

    static func answer(_ channel: EmbeddedChannel, _ status: HTTPResponse.Status = .ok) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: status)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    @Test func slowRequestHeadIsClosedAfterTheHeaderTimeout() throws {
        let (channel, recorder) = try Self.connection(ConnectionCounter(), limits: Self.limits)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(299))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive, "closed at the header timeout")
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "closed without an answer")
        #expect(recorder.seen.isEmpty)
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        let (channel, _) = try Self.connection(ConnectionCounter(), limits: Self.limits)
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(channel.isActive, "a request being answered has no deadline")
        try Self.answer(channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        #expect(!channel.isActive, "closed once idle for the keep-alive timeout")
    }

    /// Answered before its body was read (404 for an unknown model), then the body arrives:
    /// the connection is idle from then on and closes after the keep-alive timeout.
    @Test func connectionAnsweredBeforeItsBodyStillTimesOut() throws {
        let (channel, _) = try Self.connection(ConnectionCounter(), limits: Self.limits)
        try channel.writeInbound(Self.put)
        try Self.answer(channel, .notFound)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "hello")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(299))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    /// Six requests, each after an idle time just under the keep-alive timeout.
    @Test func keepAliveConnectionInUseStaysOpen() throws {
        let (channel, recorder) = try Self.connection(ConnectionCounter(), limits: Self.limits)
        for _ in 0..<6 {
            try channel.writeInbound(Self.head)
            try channel.writeInbound(HTTPRequestPart.end(nil))
            try Self.answer(channel)
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(299))
            #expect(channel.isActive)
        }
        #expect(recorder.seen.filter { $0 == "head" }.count == 6)
    }

    @Test func stalledBodyIsClosedAfterTheBodyTimeout() throws {
        let (channel, _) = try Self.connection(ConnectionCounter(), limits: Self.limits)
        try channel.writeInbound(Self.put)
        for _ in 0..<3 {
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(250))
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(bytes: [UInt8](repeating: 1, count: 10))))
        }
        #expect(channel.isActive, "a body that keeps coming is read")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        #expect(!channel.isActive, "an upload that stops is not waited for forever")
    }
}
