import Testing

/// Keeps the suites that load the whole machine apart from the ones whose servers must answer
/// in time, so that every suite runs in one `swift test` pass on a 2-core machine.
///
/// `.machineLoad(.exclusive)` (the reference suites that build 600-layer networks on every
/// core, the tests that start server processes under bursts or in a cgroup) runs each test case
/// alone among the suites that carry the trait; `.machineLoad(.shared)` (the suites with live
/// servers and client timeouts) run together, but never beside an exclusive one. Suites without
/// the trait are not held back.
public struct MachineLoad: SuiteTrait, TestTrait, TestScoping {
    public enum Kind: Sendable { case shared, exclusive }
    public let kind: Kind

    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // Held per test case: a suite that held it around its tests would deadlock exclusive ones.
        guard testCase != nil else { return try await function() }
        await MachineLock.shared.acquire(kind)
        do {
            try await function()
        } catch {
            await MachineLock.shared.release(kind)
            throw error
        }
        await MachineLock.shared.release(kind)
    }
}

extension Trait where Self == MachineLoad {
    /// See `MachineLoad`.
    public static func machineLoad(_ kind: MachineLoad.Kind) -> MachineLoad { MachineLoad(kind: kind) }
}

/// A readers-writer lock for tests, preferring the writer: once an exclusive test waits, no new
/// shared test starts.
actor MachineLock {
    static let shared = MachineLock()

    private var readers = 0
    private var writing = false
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []

    func acquire(_ kind: MachineLoad.Kind) async {
        switch kind {
        case .shared:
            if !writing && waitingWriters.isEmpty {
                readers += 1
                return
            }
            await withCheckedContinuation { waitingReaders.append($0) }
        case .exclusive:
            if !writing && readers == 0 {
                writing = true
                return
            }
            await withCheckedContinuation { waitingWriters.append($0) }
        }
    }

    func release(_ kind: MachineLoad.Kind) {
        switch kind {
        case .shared: readers -= 1
        case .exclusive: writing = false
        }
        guard !writing, readers == 0 || waitingWriters.isEmpty else { return }
        if readers == 0, !waitingWriters.isEmpty {
            writing = true
            waitingWriters.removeFirst().resume()
        } else if waitingWriters.isEmpty {
            readers += waitingReaders.count
            for reader in waitingReaders { reader.resume() }
            waitingReaders = []
        }
    }
}
