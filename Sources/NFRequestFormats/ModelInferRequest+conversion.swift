import Foundation

// gRPC's `ModelInferRequest` (Protos/grpc_predict_v2.proto; the messages are generated into
// Generated/) as the same `InferenceRequest` the JSON and binary HTTP bodies decode to, so that one
// path turns every request into the pipeline's input. Every count comes from a client.

extension InferenceRequest {
    /// The request of a gRPC `ModelInfer` call. Inputs carry their values either typed
    /// (`contents.fp32_contents` for FP32, `contents.bytes_contents` for BYTES) or, all of them,
    /// raw in `raw_input_contents`, one entry per input in input order (then no input has
    /// `contents`), as the protocol requires.
    public init(_ message: Inference_ModelInferRequest) throws(RequestError) {
        let raw = message.rawInputContents
        guard raw.isEmpty || raw.count == message.inputs.count else {
            throw .badRequest(
                "raw_input_contents has \(raw.count) entries for \(message.inputs.count) inputs; send one per input, in input order, or none")
        }
        var inputs: [InferenceInput] = []
        for (index, tensor) in message.inputs.enumerated() {
            let shape = tensor.shape.map { Int($0) }
            var input = InferenceInput(name: tensor.name, shape: shape, datatype: tensor.datatype)
            if !raw.isEmpty {
                guard !tensor.hasContents else {
                    throw .badRequest(
                        "input \"\(tensor.name)\" has contents although the request has raw_input_contents; send every input's values one way")
                }
                input.binary = [UInt8](raw[index])
            } else {
                let contents = tensor.contents
                switch tensor.datatype {
                case "FP32":
                    guard Self.onlyFP32(contents) else {
                        throw .badRequest("input \"\(tensor.name)\" is FP32: send its values in contents.fp32_contents (or raw_input_contents)")
                    }
                    input.floats = contents.fp32Contents
                case "BYTES":
                    guard Self.onlyBytes(contents) else {
                        throw .badRequest("input \"\(tensor.name)\" is BYTES: send its images in contents.bytes_contents (or raw_input_contents)")
                    }
                    input.elements = contents.bytesContents.map { [UInt8]($0) }
                default:
                    break  // the datatype itself is refused where the input is used
                }
            }
            inputs.append(input)
        }
        let outputs = message.outputs.map { tensor in
            var output = RequestedOutput(name: tensor.name)
            if !tensor.parameters.isEmpty { output.parameters = tensor.parameters.mapValues(JSONScalar.init) }
            return output
        }
        self.init(
            id: message.id.isEmpty ? nil : message.id, inputs: inputs, outputs: outputs.isEmpty ? nil : outputs,
            parameters: message.parameters.isEmpty ? nil : message.parameters.mapValues(JSONScalar.init))
    }

    private static func onlyFP32(_ c: Inference_InferTensorContents) -> Bool {
        c.boolContents.isEmpty && c.intContents.isEmpty && c.int64Contents.isEmpty && c.uintContents.isEmpty
            && c.uint64Contents.isEmpty && c.fp64Contents.isEmpty && c.bytesContents.isEmpty
    }

    private static func onlyBytes(_ c: Inference_InferTensorContents) -> Bool {
        c.boolContents.isEmpty && c.intContents.isEmpty && c.int64Contents.isEmpty && c.uintContents.isEmpty
            && c.uint64Contents.isEmpty && c.fp32Contents.isEmpty && c.fp64Contents.isEmpty
    }
}

extension Inference_ModelInferRequest {
    /// The bytes of tensor data the message carries (raw contents, typed FP32 values, BYTES
    /// elements): what the server's message size limit counts.
    public var tensorDataBytes: Int {
        var total = rawInputContents.reduce(0) { $0 + $1.count }
        for input in inputs where input.hasContents {
            total += input.contents.fp32Contents.count * 4 + input.contents.bytesContents.reduce(0) { $0 + $1.count }
            total += (input.contents.fp64Contents.count + input.contents.int64Contents.count + input.contents.uint64Contents.count) * 8
            total += (input.contents.intContents.count + input.contents.uintContents.count) * 4 + input.contents.boolContents.count
        }
        return total
    }
}

extension JSONScalar {
    /// A gRPC parameter as the JSON value it stands for.
    init(_ parameter: Inference_InferParameter) {
        switch parameter.parameterChoice {
        case let .boolParam(value): self = .bool(value)
        case let .int64Param(value): self = .number(Double(value))
        case let .uint64Param(value): self = .number(Double(value))
        case let .doubleParam(value): self = .number(value)
        case let .stringParam(value): self = .string(value)
        case nil: self = .string("")
        }
    }
}
