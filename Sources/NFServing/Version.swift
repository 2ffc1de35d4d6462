/// nfserve's version, reported by `GET /v2`, gRPC's `ServerMetadata` and `nfserve --version`.
public let nfserveVersion = "0.1.0"
