import Foundation
import Hummingbird
import NFDatasets
import NFDiagnostics
import NFModels
import NFPipeline
import NFServing

/// The diagnostics of docs/signal-propagation.md over HTTP: `GET /diagnostics/spp` on a served model,
/// `POST /diagnostics/spp` for designs and architectures at initialization (or several runs to
/// overlay), answered as JSON or, with `?format=svg` or `Accept: image/svg+xml`, as the picture.
///
/// The measurements run on their own queue (`pool`), one at a time, so that a long one (a
/// 600-layer network takes seconds) never delays predictions on the inference queue.
struct DiagnosticsRoutes: Sendable {
    let store: ModelStore
    let pool: ComputePool
    let datasets: String
    /// Admits each request by the memory its runs are estimated to take.
    let memory: MemoryAdmission
    /// A design request is a small JSON document.
    static let maxBodyBytes = 64 << 10

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/diagnostics/spp", method: .get, table: routes) { request, _ in
            let format = try ResponseFormat(request)
            guard let name = request.uri.queryParameters.get("model") else {
                throw APIError.badRequest(
                    "?model= names the served model to measure (known: \(store.entries.map(\.name).joined(separator: ", "))); POST measures designs at initialization"
                )
            }
            let input = try SignalPropagationInput(
                query: request.uri.queryParameters.get("input"), batch: try request.integerQuery("batch"),
                size: try request.integerQuery("size"), seed: try request.unsignedQuery("seed"))
            let run = SignalPropagationRun(kind: .servedModel(name), input: input)
            return try respond(try await measure([run]), format: format)
        }
        router.on("/diagnostics/precision", method: .get, table: routes) { request, _ in
            let format = try ResponseFormat(request)
            guard let name = request.uri.queryParameters.get("model") else {
                throw APIError.badRequest(
                    "?model= names the served model to measure (known: \(store.entries.map(\.name).joined(separator: ", ")))")
            }
            let asked: String = request.uri.queryParameters.get("precision").map { String($0) } ?? "int8"
            guard let precision = Precision(rawValue: asked), precision != .fp32 else {
                throw APIError.badRequest("?precision= must be int8 or bf16 (compared with fp32), got \"\(asked)\"")
            }
            let input = try SignalPropagationInput(
                query: request.uri.queryParameters.get("input"), batch: try request.integerQuery("batch"),
                size: try request.integerQuery("size"), seed: try request.unsignedQuery("seed"))
            let pipeline = try store.servedModel(named: name)
            let catalog = DatasetCatalog(root: datasets)
            let bytes = try PrecisionCost.estimatedBytes(pipeline, precision: precision, input: input)
            try memory.reserve(bytes, for: "this measurement")
            defer { memory.release(bytes) }
            let report = try await pool.run {
                try PrecisionCost.measure(pipeline, precision: precision, input: input, openDataset: { try catalog.open(name: $0) })
            }
            return try format.response(svg: { PrecisionCostChart.svg(report) }, json: { try JSONEncoder.api.encode(report) })
        }
        router.on("/diagnostics/spp", method: .post, table: routes) { request, _ in
            let format = try ResponseFormat(request)
            let body = try await request.collectBody(limit: Self.maxBodyBytes, hint: "a diagnostics request is a small JSON document")
            // A list of runs or one run: decoded as what the body starts with, so that an error
            // names the field at fault.
            let data = Data(buffer: body)
            let requests =
                data.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "[")
                ? try JSONDecoder().decode([SignalPropagationRequest].self, from: data)
                : [try JSONDecoder().decode(SignalPropagationRequest.self, from: data)]
            let runs = try SignalPropagationRequest.runs(requests)
            return try respond(try await measure(runs), format: format)
        }
    }

    /// Checks every run, looks up the served models, admits the request by its memory
    /// estimate, then measures all runs as one job.
    private func measure(_ runs: [SignalPropagationRun]) async throws -> [SignalPropagationReport] {
        try runs.forEach { try $0.check() }
        let catalog = DatasetCatalog(root: datasets)
        var bytes = 0
        let jobs: [@Sendable () throws -> SignalPropagationReport] = try runs.map { run in
            guard case let .servedModel(name) = run.kind else {
                bytes = max(bytes, try run.estimatedBytes())
                return { try run.measureAtInitialization() }
            }
            let pipeline = try store.servedModel(named: name)
            bytes = max(bytes, try run.estimatedBytes(servedModel: pipeline))
            return { try SignalPropagation.measure(pipeline, input: run.input, openDataset: { try catalog.open(name: $0) }) }
        }
        // Runs go one after the other and each gives its memory back: the largest counts.
        try memory.reserve(bytes, for: runs.count == 1 ? "this measurement" : "the largest of these measurements")
        defer { memory.release(bytes) }
        return try await pool.run { try jobs.map { try $0() } }
    }

    private func respond(_ reports: [SignalPropagationReport], format: ResponseFormat) throws -> Response {
        try format.response(
            svg: { SignalPropagationChart.svg(reports) },
            json: {
                reports.count == 1 ? try JSONEncoder.api.encode(reports[0]) : try JSONEncoder.api.encode(SignalPropagationRuns(runs: reports))
            })
    }
}

/// JSON, or the picture: `?format=json|svg`, else SVG when the Accept header asks for
/// `image/svg+xml` and not for JSON.
enum ResponseFormat {
    case json, svg

    init(_ request: Request) throws {
        switch request.uri.queryParameters.get("format") {
        case "json": self = .json
        case "svg": self = .svg
        case nil:
            let accept = request.headers[.accept] ?? ""
            self = accept.contains("image/svg+xml") && !accept.contains("application/json") ? .svg : .json
        case let other?:
            throw APIError.badRequest("?format= must be json or svg, got \"\(other)\"")
        }
    }

    /// The diagnostics' answer in this format: the chart from the plotting module, or the JSON.
    func response(svg: () -> String, json: () throws -> Data) throws -> Response {
        switch self {
        case .svg:
            return Response(
                status: .ok, headers: [.contentType: "image/svg+xml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: svg())))
        case .json:
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: try json())))
        }
    }
}
