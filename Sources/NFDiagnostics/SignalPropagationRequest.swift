/// What `POST /diagnostics/spp` and `nfserve spp` measure: one or several runs, overlaid in one
/// picture. A body is one object or a list of them, each one of
///
///     {"architecture": {design} | [{design}, ...], "input": {...}}     the paper's designs at initialization
///     {"model": "nf_resnet50", "at_init": true, "input": {...}}        a registered architecture at initialization
///     {"model": "fmnist-resnet-bn", "input": {...}}                    a served model (as GET /diagnostics/spp)
///
/// with `input` `{"source": "gaussian", "batch": 4, "size": 64, "seed": 0}` or
/// `{"source": "dataset", "dataset": "NAME", "batch": 8}` (all optional).
public struct SignalPropagationRequest: Sendable, Decodable {
    public var architecture: [NetworkDesign]?
    public var model: String?
    public var atInit: Bool?
    public var input: SignalPropagationInput?

    enum CodingKeys: String, CodingKey {
        case architecture, model, input
        case atInit = "at_init"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let list = try? container.decodeIfPresent([NetworkDesign].self, forKey: .architecture) {
            architecture = list
        } else {
            architecture = try container.decodeIfPresent(NetworkDesign.self, forKey: .architecture).map { [$0] }
        }
        model = try container.decodeIfPresent(String.self, forKey: .model)
        atInit = try container.decodeIfPresent(Bool.self, forKey: .atInit)
        input = try container.decodeIfPresent(SignalPropagationInput.self, forKey: .input)
    }

    public init(architecture: [NetworkDesign]? = nil, model: String? = nil, atInit: Bool? = nil, input: SignalPropagationInput? = nil) {
        self.architecture = architecture
        self.model = model
        self.atInit = atInit
        self.input = input
    }

    /// The runs this request asks for, in order.
    public func runs() throws -> [SignalPropagationRun] {
        let input = input ?? SignalPropagationInput()
        switch (architecture, model) {
        case let (designs?, nil):
            guard !designs.isEmpty else { throw DiagnosticsRequestError("architecture is an empty list") }
            guard atInit ?? true else { throw DiagnosticsRequestError("a design has no trained weights: it is measured at initialization") }
            return designs.map { SignalPropagationRun(kind: .design($0), input: input) }
        case let (nil, name?):
            return [SignalPropagationRun(kind: atInit == true ? .initializedArchitecture(name) : .servedModel(name), input: input)]
        case (nil, nil):
            throw DiagnosticsRequestError(
                "give \"architecture\" (a design, or a list of them) or \"model\" (with \"at_init\": true for a registered architecture)")
        case (_?, _?):
            throw DiagnosticsRequestError("give either \"architecture\" or \"model\", not both")
        }
    }

    /// The runs of a list of requests, at most `SignalPropagationLimits.maxRuns` in all.
    public static func runs(_ requests: [SignalPropagationRequest]) throws -> [SignalPropagationRun] {
        let runs = try requests.flatMap { try $0.runs() }
        guard !runs.isEmpty else { throw DiagnosticsRequestError("the request lists no run") }
        guard runs.count <= SignalPropagationLimits.maxRuns else {
            throw DiagnosticsRequestError("\(runs.count) runs in one request; the limit maxRuns is \(SignalPropagationLimits.maxRuns)")
        }
        return runs
    }
}

/// One network to measure and its input.
public struct SignalPropagationRun: Sendable {
    public enum Kind: Sendable {
        case design(NetworkDesign)
        case initializedArchitecture(String)
        case servedModel(String)
    }

    public var kind: Kind
    public var input: SignalPropagationInput

    public init(kind: Kind, input: SignalPropagationInput) {
        self.kind = kind
        self.input = input
    }

    /// The cheap checks (design fields, input limits), so that a request fails before any run
    /// starts; a served model's input is checked against the model when it runs.
    public func check() throws {
        switch kind {
        case let .design(design):
            _ = try design.validated()
            _ = try SignalPropagation.designInput(input)
        case .initializedArchitecture:
            _ = try SignalPropagation.designInput(input)
        case .servedModel:
            if let batch = input.batch, let size = input.size { try SignalPropagationLimits.checkInput(batch: batch, size: size) }
        }
    }

    /// Measures a design or a registered architecture at initialization; a served model needs
    /// its pipeline (`SignalPropagation.measure(_:input:datasets:)`).
    public func measureAtInitialization() throws -> SignalPropagationReport {
        switch kind {
        case let .design(design): return try SignalPropagation.measure(design: design, input: input)
        case let .initializedArchitecture(name): return try SignalPropagation.measure(architecture: name, input: input)
        case let .servedModel(name): throw DiagnosticsRequestError("\"\(name)\" is a served model, not a network at initialization")
        }
    }
}
