import Foundation
import Hummingbird
import NFDatasets
import NFDiagnostics
import NFLayers
import NFModels
import NFPipeline
import NFServing
import NFTensors
import NIOCore

/// BatchNorm's estimation shift over HTTP (docs/estimation-shift.md): the query translated to an
/// `EstimationShiftService` call, its answer to JSON or SVG. A dataset pass stops when the
/// client has gone (answered 499 in the metrics).
struct EstimationShiftRoutes: Sendable {
    let service: EstimationShiftService
    let authorization: AdminAuthorization

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/diagnostics/esm", method: .get, table: routes) { request, context in
            let format = try ResponseFormat(request)
            let names = request.uri.queryParameters.getAll("model")
            guard !names.isEmpty else {
                throw APIError.badRequest(
                    "?model= names the served model (repeat it to overlay several; known: \(service.store.entries.map(\.name).joined(separator: ", ")))"
                )
            }
            guard names.count <= EstimationShiftService.maxModels else {
                throw APIError.badRequest("\(names.count) models in one request; overlay at most \(EstimationShiftService.maxModels)")
            }
            let source = try Self.source(request, measuring: true)
            let connection = ConnectionWatch(context.channel)
            var reports: [EstimationShiftReport] = []
            for name in names {
                reports.append(
                    try await service.report(
                        try service.store.servedModel(named: name), source: source,
                        stillWanted: connection.checkOpen))
            }
            return try respond(reports, format: format)
        }
        router.onAdmin("/diagnostics/esm/reset", method: .post, table: routes, authorization: authorization) { request, _ in
            let name = try request.uri.queryParameters.get("model").orThrow(APIError.badRequest("?model= names the model whose live sums to reset"))
            try service.resetLive(name)
            return Response(status: .noContent)
        }
        router.onAdmin("/models/{model}/recalibrate", method: .post, table: routes, authorization: authorization) { request, context in
            let name = try context.parameters.require("model")
            let source = try Self.source(request, measuring: false)
            let outcome = try await service.recalibrate(name, source: source, stillWanted: ConnectionWatch(context.channel).checkOpen)
            return RecalibrationResponse(outcome)
        }
        router.onAdmin("/models/{model}/restore", method: .post, table: routes, authorization: authorization) { _, context in
            let name = try context.parameters.require("model")
            let (restored, statistics) = try service.restore(name)
            return RestoreResponse(model: name, restored: restored, statistics: statistics)
        }
    }

    /// `?source=live[&window=N]` or `?dataset=NAME[&limit=N]` (`window` only when measuring).
    private static func source(_ request: Request, measuring: Bool) throws -> EstimationShiftSource {
        let query = request.uri.queryParameters
        switch (query.get("source"), query.get("dataset")) {
        case ("live", nil):
            return .live(window: measuring ? try request.integerQuery("window") : nil)
        case (nil, let name?):
            return .dataset(name: name, limit: try request.integerQuery("limit"))
        case (nil, nil):
            throw APIError.badRequest(
                measuring
                    ? "give ?dataset=NAME (GET /datasets lists them) or ?source=live"
                    : "give ?dataset=NAME or ?source=live: what to measure the new statistics on")
        default:
            throw APIError.badRequest("give either ?dataset=NAME or ?source=live, and source can only be live")
        }
    }

    private func respond(_ reports: [EstimationShiftReport], format: ResponseFormat) throws -> Response {
        try format.response(
            svg: { EstimationShiftChart.svg(reports) },
            json: {
                reports.count == 1 ? try JSONEncoder.api.encode(reports[0]) : try JSONEncoder.api.encode(["runs": reports])
            })
    }
}

/// What `POST /models/{model}/recalibrate` answers: per layer the ESM on the data before and
/// after, and for a labelled dataset top-1 before and after.
struct RecalibrationResponse: ResponseEncodable {
    struct Layer: Encodable {
        let index: Int, name: String, kind: String, channels: Int
        let esmMeanBefore: Double?, esmVarBefore: Double?, esmMeanAfter: Double?, esmVarAfter: Double?

        init(before: EstimationShiftLayer, after: EstimationShiftLayer) {
            (index, name, kind, channels) = (before.index, before.name, before.kind, before.channels)
            (esmMeanBefore, esmVarBefore, esmMeanAfter, esmVarAfter) = (before.esmMean, before.esmVar, after.esmMean, after.esmVar)
        }

        enum CodingKeys: String, CodingKey {
            case index, name, kind, channels
            case esmMeanBefore = "esm_mean_before", esmVarBefore = "esm_var_before"
            case esmMeanAfter = "esm_mean_after", esmVarAfter = "esm_var_after"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(name, forKey: .name)
            try container.encode(kind, forKey: .kind)
            try container.encode(channels, forKey: .channels)
            try container.encode(esmMeanBefore, forKey: .esmMeanBefore)
            try container.encode(esmVarBefore, forKey: .esmVarBefore)
            try container.encode(esmMeanAfter, forKey: .esmMeanAfter)
            try container.encode(esmVarAfter, forKey: .esmVarAfter)
        }
    }

    let model: String
    let statistics: String
    let images: Int
    let top1Before: Double?
    let top1After: Double?
    let layers: [Layer]

    init(_ outcome: RecalibrationOutcome) {
        (model, statistics, images) = (outcome.model, outcome.statistics, outcome.images)
        (top1Before, top1After) = (outcome.top1?.before, outcome.top1?.after)
        layers = zip(outcome.before, outcome.after).map { Layer(before: $0, after: $1) }
    }

    enum CodingKeys: String, CodingKey {
        case model, statistics, images, layers
        case top1Before = "top1_before", top1After = "top1_after"
    }
}

struct RestoreResponse: ResponseEncodable {
    let model: String
    /// False when the checkpoint's statistics were already in use.
    let restored: Bool
    let statistics: String
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
