import Hummingbird

/// Records every request's route, status and latency (outermost, so errors are counted with
/// the status they are answered with).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.recordRequest(
            route: context.endpointPath ?? "NotFound", method: request.method,
            status: response.status, duration: ContinuousClock.now - start)
        return response
    }
}
