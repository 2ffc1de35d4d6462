import Hummingbird
import Synchronization

/// The paths the router serves and their methods, kept so that a request the router cannot
/// match can be told apart: a known path with another method is 405, anything else 404.
/// (Hummingbird's trie answers both with its not-found responder.)
final class RouteTable: Sendable {
    private let entries = Mutex<[(segments: [Substring], methods: Set<HTTPRequest.Method>)]>([])

    /// Records `method` on `path`, written as the router takes it (`/models/{model}`).
    func add(_ path: String, method: HTTPRequest.Method) {
        let segments = Self.segments(path)
        entries.withLock { entries in
            if let index = entries.firstIndex(where: { $0.segments == segments }) {
                entries[index].methods.insert(method)
            } else {
                entries.append((segments, [method]))
            }
        }
    }

    /// Every path as the router takes it (`/models/{model}`) with its methods, in the order added.
    var all: [(path: String, methods: Set<HTTPRequest.Method>)] {
        entries.withLock { $0.map { ("/" + $0.segments.joined(separator: "/"), $0.methods) } }
    }

    /// The methods served on a concrete request path, empty when no route has that shape.
    func methods(forPath path: String) -> Set<HTTPRequest.Method> {
        let request = Self.segments(path)
        return entries.withLock { entries in
            entries.reduce(into: []) { allowed, entry in
                guard entry.segments.count == request.count else { return }
                let matches = zip(entry.segments, request).allSatisfy { pattern, segment in
                    pattern == segment || (pattern.first == "{" && pattern.last == "}")
                }
                if matches { allowed.formUnion(entry.methods) }
            }
        }
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}

extension Router {
    /// Adds a route and records it in `table`.
    @discardableResult
    func on<Output: ResponseGenerator>(
        _ path: String, method: HTTPRequest.Method, table: RouteTable,
        use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self {
        table.add(path, method: method)
        return on(RouterPath(path), method: method, use: handler)
    }
}
