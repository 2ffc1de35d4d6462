import NFServing

/// What `nfserve serve` was asked to do; the defaults are docs/api.md's.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The models served: a folder of checkpoint folders, or one folder under a name.
    public var models: ModelSource
    /// A folder of checkpoint folders (`.repository`); each sub-folder is a model named after it.
    public var checkpoints: String {
        get {
            switch models {
            case let .repository(folder): folder
            case let .single(_, directory): directory
            }
        }
        set { models = .repository(newValue) }
    }
    /// Folder of datasets; each sub-folder is a dataset named after it.
    public var datasets: String
    /// Largest request body read, in bytes (`--max-body-mb`); a larger one is refused with 413
    /// while it is being read, so no more than this is ever buffered.
    public var maxBodyBytes: Int
    /// Largest image accepted, in pixels (`--max-pixels`), checked from the header before decoding.
    public var maxPixels: Int
    /// Bearer token of the admin endpoints; `nil` disables them.
    public var adminToken: String?
    /// Inference requests that may wait for the compute pool before new ones get 503.
    public var maxQueuedInferences: Int
    /// Timeouts and the open-connection limit (`--header-timeout`, `--body-timeout`,
    /// `--keepalive-timeout`, `--max-connections`).
    public var connectionLimits: ConnectionLimits
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish before the
    /// server stops anyway (`--shutdown-grace`; Kubernetes waits 30 s before SIGKILL).
    public var shutdownGrace: Duration
    /// On SIGTERM or SIGINT, how long readiness answers 503 while the server still accepts
    /// connections, before it stops accepting (`--shutdown-delay`; 0 by default).
    public var shutdownDelay: Duration
    /// Whether every classified image also feeds its model's live BatchNorm estimation shift
    /// (`--no-live-esm` turns it off).
    public var liveEstimationShift: Bool
    /// The share of the time the live estimation shift's observed passes and their merges may
    /// take (`--live-esm-budget`): passes are sampled to keep within it. nil observes every pass.
    public var liveEstimationShiftBudget: Double?
    /// What `/metrics` exports of the live sums per BatchNorm layer (`--esm-export`; `layer` by default).
    public var estimationShiftExport: EstimationShiftExport
    /// The dashboard's folder (`Public/`), served at `/`; nil serves no page.
    public var publicDirectory: String?
    /// Dynamic batching, for the server and per model.
    public var batching: BatchingConfiguration
    /// The arithmetic the flags ask for, for every model or per model.
    public var precisions = ModelPrecisions()
    /// The memory the server may use (`--memory-limit`); nil: the cgroup's limit, else the
    /// machine's memory (`MemoryLimit.detect()`).
    public var memoryLimit: MemoryLimit?

    public init(
        host: String = "127.0.0.1", port: Int = 8080, checkpoints: String = "./checkpoints", models: ModelSource? = nil,
        datasets: String = "./datasets", maxBodyBytes: Int = 20 << 20, maxPixels: Int = 40_000_000,
        adminToken: String? = nil, maxQueuedInferences: Int = 64,
        connectionLimits: ConnectionLimits = ConnectionLimits(), shutdownGrace: Duration = .seconds(25),
        shutdownDelay: Duration = .zero, liveEstimationShift: Bool = true, liveEstimationShiftBudget: Double? = nil,
        estimationShiftExport: EstimationShiftExport = .layer, publicDirectory: String? = nil,
        batching: BatchingConfiguration = BatchingConfiguration(), memoryLimit: MemoryLimit? = nil
    ) {
        self.host = host
        self.port = port
        self.models = models ?? .repository(checkpoints)
        self.datasets = datasets
        self.maxBodyBytes = maxBodyBytes
        self.maxPixels = maxPixels
        self.adminToken = adminToken
        self.maxQueuedInferences = maxQueuedInferences
        self.connectionLimits = connectionLimits
        self.shutdownGrace = shutdownGrace
        self.shutdownDelay = shutdownDelay
        self.liveEstimationShift = liveEstimationShift
        self.liveEstimationShiftBudget = liveEstimationShiftBudget
        self.estimationShiftExport = estimationShiftExport
        self.publicDirectory = publicDirectory
        self.batching = batching
        self.memoryLimit = memoryLimit
    }

    /// The byte budgets sized from the memory limit.
    public var memoryBudgets: MemoryBudgets { MemoryBudgets(limit: memoryLimit ?? MemoryLimit.detect()) }

    /// This configuration with the memory limit detected once, when none was given.
    func resolvingMemoryLimit() -> ServerConfiguration {
        var resolved = self
        resolved.memoryLimit = memoryLimit ?? MemoryLimit.detect()
        return resolved
    }
}
