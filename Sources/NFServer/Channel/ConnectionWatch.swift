import NIOCore

/// Whether the client of a long request is still there: its connection has not closed, nor its
/// sending side (`ConnectionGuard.inputClosed`: a client that gives up closes its socket, and
/// Hummingbird keeps a half-closed connection open). A test's in-memory channel has no guard
/// and never counts as gone.
struct ConnectionWatch {
    let channel: any Channel
    let wasOpen: Bool

    init(_ channel: any Channel) {
        self.channel = channel
        wasOpen = channel.isActive
    }

    func checkOpen() async throws {
        guard wasOpen else { return }
        let channel = channel
        guard channel.isActive else { throw APIError.clientClosed }
        let inputClosed = try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ConnectionGuard.self).inputClosed
        }.get()
        if inputClosed == true { throw APIError.clientClosed }
    }
}

extension ConnectionWatch {
    /// Runs `work`, cancelling it if the client leaves first (closes the connection or its
    /// sending side): a prediction waiting for the compute pool then leaves the queue, and the
    /// request ends as 499 in the metrics.
    func cancellingIfClientLeaves<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        guard wasOpen else { return try await work() }
        let task = Task { try await work() }
        let channel = channel
        let id = try? await channel.eventLoop.submit { () -> Int? in
            try channel.pipeline.syncOperations.handler(type: ConnectionGuard.self).whenClientLeaves { task.cancel() }
        }.get()
        defer {
            if let id = id ?? nil {
                channel.eventLoop.execute { try? channel.pipeline.syncOperations.handler(type: ConnectionGuard.self).forget(id) }
            }
        }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch is CancellationError {
            throw APIError.clientClosed
        }
    }
}
