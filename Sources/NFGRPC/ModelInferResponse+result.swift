import Foundation
import NFOpenInference
import NFRequestFormats

extension Inference_ModelInferResponse {
    /// `result` as a `ModelInferResponse`: each output's values typed in `contents`
    /// (`fp32_contents`, `bytes_contents`) or, with `raw`, in `raw_output_contents` (the same
    /// bytes as HTTP's binary tensor data).
    init(_ result: InferenceResult, raw: Bool) {
        self.init()
        modelName = result.modelName
        modelVersion = result.modelVersion
        id = result.id ?? ""
        outputs = result.outputs.map { output in
            .with {
                $0.name = output.name
                $0.datatype = output.datatype
                $0.shape = output.shape.map(Int64.init)
                guard !raw else { return }
                switch output.values {
                case let .numbers(values): $0.contents.fp32Contents = values
                case let .strings(values): $0.contents.bytesContents = values.map { Data($0.utf8) }
                }
            }
        }
        if raw { rawOutputContents = result.outputs.map { Data($0.values.bytes) } }
    }
}
