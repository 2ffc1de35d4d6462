import Foundation
import Hummingbird

/// The dashboard's static files (`Public/`, `--public DIR`) served at `/` by Hummingbird's file
/// middleware: the API routes answer first, a path no route matches is looked up in the folder
/// (`index.html` for `/`). No directory listing; a path with a `..` segment is a 404 before any
/// file is looked at (Hummingbird would answer 400), so nothing outside the folder is reachable.
/// HTML is revalidated on every load (`no-cache`), the scripts, styles and images after five
/// minutes; every file carries an ETag and Last-Modified.
struct PublicFiles<Context: RequestContext>: RouterMiddleware {
    private let files: FileMiddleware<Context, LocalFileSystem>

    init(directory: String) {
        files = FileMiddleware(
            directory,
            cacheControl: CacheControl([
                (MediaType.textHtml, [.noCache]),
                (MediaType(type: .any), [.maxAge(300)]),
            ]),
            searchForIndexHtml: true)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path.removingPercentEncoding ?? request.uri.path
        if path.split(separator: "/").contains("..") {
            throw APIError(.notFound, "no such file: \(request.uri.path)")
        }
        return try await files.handle(request, context: context, next: next)
    }
}
