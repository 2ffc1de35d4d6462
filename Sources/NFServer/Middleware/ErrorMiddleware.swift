import Hummingbird
import Logging

/// Turns every error a handler throws into docs/api.md's JSON error response, through
/// `APIError(mapping:)`, and the router's not-found into a JSON 404 or 405.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            // Only Hummingbird's `NotFoundResponder` throws a bare 404: the router found no route.
            return try unrouted(request, context: context).response(from: request, context: context)
        } catch {
            let apiError = APIError(mapping: error)
            if apiError.status == .internalServerError {
                context.logger.error("\(request.method) \(request.uri.path): \(error)")
            } else {
                context.logger.debug("\(request.method) \(request.uri.path): \(apiError)")
            }
            return try apiError.response(from: request, context: context)
        }
    }

    private func unrouted(_ request: Request, context: Context) -> APIError {
        let allowed = routes.methods(forPath: request.uri.path)
        guard !allowed.isEmpty else {
            return APIError(.notFound, "no route \(request.method) \(request.uri.path); see GET / for the endpoints")
        }
        let names = allowed.map(\.rawValue).sorted()
        return APIError(
            .methodNotAllowed, "\(request.uri.path) does not accept \(request.method); use \(names.joined(separator: " or "))",
            headers: [.allow: names.joined(separator: ", ")])
    }
}
