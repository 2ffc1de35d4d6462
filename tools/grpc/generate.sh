#!/usr/bin/env bash
# Regenerates the Swift code of the Open Inference Protocol's gRPC API from Protos/grpc_predict_v2.proto:
#   Sources/NFRequestFormats/Generated/grpc_predict_v2.pb.swift   the messages (swift-protobuf)
#   Sources/NFGRPC/Generated/grpc_predict_v2.grpc.swift           the service (grpc-swift-protobuf)
# The generated files are committed (building the two protoc plugins takes minutes): run this after
# editing the .proto, and commit its output. It installs protoc (Debian's protobuf-compiler) and
# builds the plugins, at the versions Package.swift pins, in a scratch package under .build-protoc/.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-packages.sh codegen

scratch=.build-protoc
mkdir -p "$scratch/Sources/placeholder"
# The plugins come from the same package versions as the library code that compiles their output.
cat > "$scratch/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: [.target(name: "placeholder", path: "Sources/placeholder")]
)
SWIFT
echo "// Only here so that the scratch package has a target." > "$scratch/Sources/placeholder/placeholder.swift"
(cd "$scratch" && swift build --product protoc-gen-swift && swift build --product protoc-gen-grpc-swift-2)
bin="$(cd "$scratch" && swift build --show-bin-path)"

mkdir -p Sources/NFRequestFormats/Generated Sources/NFGRPC/Generated
protoc --proto_path=Protos \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --swift_out=Sources/NFRequestFormats/Generated \
  --swift_opt=Visibility=Public \
  grpc_predict_v2.proto
# The service code imports the messages from NFRequestFormats.
protoc --proto_path=Protos \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --grpc-swift-2_out=Sources/NFGRPC/Generated \
  --grpc-swift-2_opt=Visibility=Internal,Client=true,Server=true,ExtraModuleImports=NFRequestFormats \
  grpc_predict_v2.proto
echo "generated: Sources/NFRequestFormats/Generated/grpc_predict_v2.pb.swift Sources/NFGRPC/Generated/grpc_predict_v2.grpc.swift"
