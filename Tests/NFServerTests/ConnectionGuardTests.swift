import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing
@testable import NFServer

/// `ConnectionGuard` on an embedded connection: the count of dropped requests, and a quiesce
/// that reached the connection before its handlers existed (the listener had begun to close).
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

    static func connection(_ counter: ConnectionCounter) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: ConnectionLimits(), counter: counter))
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
        channel.embeddedEventLoop.advanceTime(by: ConnectionGuard.quiesceHeadWait)
        #expect(!channel.isActive)
    }
}
