import Synchronization

/// A small thread-safe map from an input shape to the primitive built for it.
///
/// Primitives are built on first use for each shape and kept; the cache is bounded so that a
/// client sending ever-new shapes cannot grow memory without limit (when full, it starts over).
final class PrimitiveCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let entries = Mutex<[Key: Value]>([:])
    private let capacity: Int

    init(capacity: Int = 8) { self.capacity = capacity }

    /// Every value cached now.
    var values: [Value] { entries.withLock { Array($0.values) } }

    func value(for key: Key, make: () throws -> Value) throws -> Value {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        // Built outside the lock: building can take milliseconds and other shapes should not wait.
        let made = try make()
        return entries.withLock { table in
            if let raced = table[key] { return raced }
            if table.count >= capacity { table.removeAll() }
            table[key] = made
            return made
        }
    }
}
