import Foundation
import Hummingbird
import NFDatasets
import NFDiagnostics
import NFLayers
import NFModels
import NIOCore
import NFPipeline
import NFTensors

/// BatchNorm's estimation shift over HTTP (estimation-shift.md): on a dataset, on the live
/// traffic a model has classified, and AdaBN's recalibration as a reversible admin action.
///
/// Dataset passes run batch by batch on the diagnostics queue (each batch one job, so other
/// diagnostics interleave and no event loop waits) and stop when the client has gone.
struct EstimationShiftRoutes: Sendable {
    let store: ModelStore
    let pool: ComputePool
    let datasets: String
    let live: LiveMonitors
    let authorization: AdminAuthorization
    let maxPixels: Int
    /// Preprocessed images a recalibration holds in memory (it passes over them once per layer):
    /// sized from the server's memory limit, at most 512 MiB.
    var maxRecalibrationBytes = 512 << 20
    /// Admits each dataset pass and recalibration by the memory it is estimated to take.
    var memory: MemoryAdmission? = nil
    /// Models one request may measure (each a pass over the dataset).
    static let maxModels = 4

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/diagnostics/esm", method: .get, table: routes) { request, context in
            let format = try ResponseFormat(request)
            let names = request.uri.queryParameters.getAll("model")
            guard !names.isEmpty else {
                throw APIError.badRequest("?model= names the served model (repeat it to overlay several; known: \(store.entries.map(\.name).joined(separator: ", ")))")
            }
            guard names.count <= Self.maxModels else {
                throw APIError.badRequest("\(names.count) models in one request; overlay at most \(Self.maxModels)")
            }
            var reports: [EstimationShiftReport] = []
            for name in names {
                reports.append(try await report(request, model: try store.servedModel(named: name), context: context))
            }
            return try respond(reports, format: format)
        }
        router.onAdmin("/diagnostics/esm/reset", method: .post, table: routes, authorization: authorization) { request, _ in
            let name = try request.uri.queryParameters.get("model").orThrow(APIError.badRequest("?model= names the model whose live sums to reset"))
            live.monitor(for: try store.servedModel(named: name)).reset()
            return Response(status: .noContent)
        }
        router.onAdmin("/models/{model}/recalibrate", method: .post, table: routes, authorization: authorization) { request, context in
            try await recalibrate(request, name: try context.parameters.require("model"), context: context)
        }
        router.onAdmin("/models/{model}/restore", method: .post, table: routes, authorization: authorization) { _, context in
            let name = try context.parameters.require("model")
            _ = try store.servedModel(named: name)
            let restored = store.restoreStatistics(name)
            return RestoreResponse(model: name, restored: restored, statistics: store.entry(named: name)?.statistics ?? "checkpoint")
        }
    }

    // MARK: measuring

    private func report(_ request: Request, model: ModelPipeline, context: ServerRequestContext) async throws -> EstimationShiftReport {
        let statistics = store.entry(named: model.name)?.statistics ?? "checkpoint"
        let query = request.uri.queryParameters
        switch (query.get("source"), query.get("dataset")) {
        case ("live", nil):
            guard live.enabled else { throw APIError.badRequest("live estimation shift is off (the server runs with --no-live-esm)") }
            let monitor = live.monitor(for: model)
            if let window = try request.integerQuery("window") {
                guard (1...monitor.maxWindow).contains(window) else {
                    throw APIError.badRequest("?window= must be 1 to \(monitor.maxWindow) images, got \(window)")
                }
                let recent = monitor.recent(window: window)
                return EstimationShiftReport(model: model.name, source: "live", scope: "recent", window: window, images: recent.images,
                                             statistics: statistics, layers: EstimationShift.layers(model.classifier, measured: recent.moments))
            }
            let all = monitor.all
            return EstimationShiftReport(model: model.name, source: "live", scope: "all", images: all.images, statistics: statistics,
                                         layers: EstimationShift.layers(model.classifier, measured: all.moments))
        case (nil, let name?):
            let limit = try request.integerQuery("limit")
            if let limit, limit < 1 { throw APIError.badRequest("?limit= must be positive, got \(limit)") }
            let dataset = try DatasetCatalog(root: datasets).open(name: name)
            let bytes = try model.estimationShiftPassBytes()
            try memory?.reserve(bytes, for: "an estimation-shift pass of \(model.name)")
            defer { memory?.release(bytes) }
            let (recorder, images) = try await measure(model, batches: EstimationShift.batches(model, dataset: dataset, limit: limit, maxPixels: maxPixels),
                                                       context: context)
            return EstimationShiftReport(model: model.name, source: "dataset", dataset: dataset.name, images: images, statistics: statistics,
                                         layers: EstimationShift.layers(model.classifier, measured: recorder.moments))
        case (nil, nil):
            throw APIError.badRequest("give ?dataset=NAME (GET /datasets lists them) or ?source=live")
        default:
            throw APIError.badRequest("give either ?dataset=NAME or ?source=live, and source can only be live")
        }
    }

    /// One pass over `batches`, each batch a job of the diagnostics queue; stops when the
    /// connection has closed (answered 499 in the metrics; the client is gone).
    private func measure(_ model: ModelPipeline, batches: DatasetBatches,
                         context: ServerRequestContext) async throws -> (NormalizationRecorder, Int) {
        let recorder = NormalizationRecorder()
        let connection = ConnectionWatch(context.channel)
        var done = 0
        for batch in batches {
            try await connection.checkOpen()
            let input = try batch.get()
            _ = try await pool.run { try model.logits(input: input, context: ForwardContext(observer: recorder)) }
            done += input.shape[0]
        }
        return (recorder, done)
    }

    // MARK: recalibration

    private func recalibrate(_ request: Request, name: String, context: ServerRequestContext) async throws -> RecalibrationResponse {
        let model = try store.servedModel(named: name)
        guard !model.classifier.batchNormLayers.isEmpty else {
            throw APIError.badRequest("\(name) has no BatchNorm layer to recalibrate (\(model.classifier.normalizationKind.rawValue))")
        }
        let query = request.uri.queryParameters
        let before: [EstimationShiftLayer], after: [EstimationShiftLayer], recalibrated: any ImageClassifier
        let source: String, images: Int
        var top1: (before: Double, after: Double)?
        switch (query.get("source"), query.get("dataset")) {
        case ("live", nil):
            let measured = live.monitor(for: model).all
            guard measured.images > 0 else { throw APIError.badRequest("\(name) has classified no image since its statistics last changed: nothing live to recalibrate on") }
            (recalibrated, _) = EstimationShift.recalibrated(model.classifier, measured: measured.moments)
            before = EstimationShift.layers(model.classifier, measured: measured.moments)
            after = EstimationShift.layers(recalibrated, measured: measured.moments)
            source = "live traffic"
            images = measured.images
        case (nil, let datasetName?):
            let dataset = try DatasetCatalog(root: datasets).open(name: datasetName)
            let perImage = model.inputSize.reduce(4, *)
            let cap = max(1, maxRecalibrationBytes / perImage)
            let requested = try request.integerQuery("limit")
            if let requested, requested < 1 { throw APIError.badRequest("?limit= must be positive, got \(requested)") }
            let limit = min(requested ?? dataset.count, cap)
            guard dataset.count > 0 else { throw APIError.badRequest("dataset \"\(dataset.name)\" has no images to recalibrate on") }
            let bytes = try model.recalibrationBytes(images: min(limit, dataset.count))
            try memory?.reserve(bytes, for: "recalibrating \(model.name) on \(min(limit, dataset.count)) images")
            defer { memory?.release(bytes) }
            var inputs: [Tensor] = []
            let connection = ConnectionWatch(context.channel)
            for batch in EstimationShift.batches(model, dataset: dataset, limit: limit, maxPixels: maxPixels) {
                try await connection.checkOpen()
                inputs.append(try batch.get())
            }
            let measuredBefore = try await pool.run { [inputs] in try EstimationShift.inputMoments(model.classifier, inputs: inputs) }
            let network = try await pool.run { [inputs] in try EstimationShift.recalibrated(model.classifier, inputs: inputs).0 }
            let measuredAfter = try await pool.run { [inputs] in try EstimationShift.inputMoments(network, inputs: inputs) }
            recalibrated = network
            before = EstimationShift.layers(model.classifier, measured: measuredBefore)
            after = EstimationShift.layers(network, measured: measuredAfter)
            source = "dataset:\(dataset.name)"
            images = inputs.reduce(0) { $0 + $1.shape[0] }
            if dataset.isLabelled {
                let candidate = model.replacing(classifier: network)
                let accuracy = try await pool.run {
                    (try Evaluation.run(model: model, dataset: dataset, limit: images).top1,
                     try Evaluation.run(model: candidate, dataset: dataset, limit: images).top1)
                }
                top1 = accuracy
            }
        case (nil, nil):
            throw APIError.badRequest("give ?dataset=NAME or ?source=live: what to measure the new statistics on")
        default:
            throw APIError.badRequest("give either ?dataset=NAME or ?source=live, and source can only be live")
        }
        let candidate = model.replacing(classifier: recalibrated)
        guard store.swapStatistics(name, from: model, to: candidate, source: source, images: images) else {
            throw APIError(.conflict, "\(name) changed while it was being recalibrated (reloaded, unloaded or recalibrated meanwhile); nothing was swapped")
        }
        return RecalibrationResponse(model: name, statistics: store.entry(named: name)?.statistics ?? source, images: images,
                                     top1Before: top1?.before, top1After: top1?.after,
                                     layers: zip(before, after).map { RecalibrationResponse.Layer(before: $0, after: $1) })
    }

    private func respond(_ reports: [EstimationShiftReport], format: ResponseFormat) throws -> Response {
        try format.response(svg: { EstimationShiftChart.svg(reports) }, json: {
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
            return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        } catch is CancellationError {
            throw APIError.clientClosed
        }
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
