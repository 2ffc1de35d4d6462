#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into Fuzz/corpus/<Target>/ (committed).

Deterministic: small valid inputs of each format, from the repository's own fixtures where
they exist (images, config.json files) and generated here otherwise (safetensors, OIP
requests, multipart bodies, IDX files). Standard library only. Usage: python3 Fuzz/make_seeds.py
"""
import base64, gzip, json, os, shutil, struct, glob

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")


def target(name):
    path = os.path.join(CORPUS, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def safetensors_seeds():
    d = target("FuzzSafeTensors")
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
    write(d, "f32.safetensors", safetensors({"conv.weight": ("F32", [2, 2], f32)}, {"format": "pt"}))
    write(d, "f16_bf16.safetensors", safetensors({
        "a": ("F16", [2], struct.pack("<2e", 1.5, -0.25)),
        "b": ("BF16", [1, 2], bytes([0x80, 0x3f, 0x00, 0xc0])),
        "c": ("F64", [1], struct.pack("<d", 2.0)),
    }))
    write(d, "scalar_and_empty.safetensors", safetensors({"s": ("F32", [], struct.pack("<f", 7.0)), "e": ("F32", [0, 3], b"")}))
    write(d, "empty.safetensors", safetensors({}))
    write(d, "num_batches_tracked.safetensors", safetensors({"bn.num_batches_tracked": ("I64", [], struct.pack("<q", 5))}))


def config_seeds():
    d = target("FuzzModelConfig")
    paths = sorted(glob.glob(os.path.join(ROOT, "checkpoints", "*", "config.json")))
    paths += sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "parity", "*", "config.json")))
    for path in paths:
        write(d, os.path.basename(os.path.dirname(path)) + ".json", open(path, "rb").read())
    write(d, "xbn.json", json.dumps({"architecture": "resnet18", "num_classes": 3,
                                      "model_args": {"in_chans": 1, "channels": [4, 4, 4, 4], "xbn": "p2", "gn_groups": 2},
                                      "pretrained_cfg": {"input_size": [1, 16, 16]}}))


def request_seeds():
    d = target("FuzzInferenceRequest")
    zeros = [0] * (4 * 4)
    write(d, "fp32_flat.json", json.dumps({"id": "1", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 4, 4], "data": zeros}]}))
    write(d, "fp32_nested.json", json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 4, 4],
                                                          "data": [[[[0.5] * 4] * 4]]}], "outputs": [{"name": "logits"}]}))
    write(d, "fp32_nonsquare.json", json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 1, 4, 6], "data": [1e-3] * 48}]}))
    png = open(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag", sorted(os.listdir(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag")))[0]), "rb").read()
    write(d, "bytes.json", json.dumps({"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(png).decode()]}],
                                       "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}]}))
    write(d, "huge_shape.json", json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [4611686018427387904, 1, 28, 28], "data": [0]}]}))
    write(d, "nonfinite.json", '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,4,4],"data":[1e39,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}')


def binary_request_seeds():
    # FuzzBinaryInference: 2 bytes of Inference-Header-Content-Length (little-endian, 0xFFFF: none), then the body.
    d = target("FuzzBinaryInference")

    def seed(name, header, binary, length=None):
        head = json.dumps(header).encode()
        n = len(head) if length is None else length
        write(d, name, struct.pack("<H", n) + head + binary)

    floats = struct.pack("<16f", *([0.25] * 16))
    seed("fp32.bin", {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 4, 4], "parameters": {"binary_data_size": len(floats)}}],
                      "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}, floats)
    png = open(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag", sorted(os.listdir(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag")))[0]), "rb").read()
    element = struct.pack("<I", len(png)) + png
    seed("bytes.bin", {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(element)}}],
                       "parameters": {"binary_data_output": True}}, element)
    seed("mixed.bin", {"inputs": [{"name": "a", "datatype": "BYTES", "shape": [1], "data": ["AQI="]},
                                  {"name": "input", "datatype": "FP32", "shape": [1, 1, 4, 4], "parameters": {"binary_data_size": len(floats)}}]}, floats)
    seed("no_header.bin", {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 4, 4], "parameters": {"binary_data_size": 64}}]}, floats, 0xFFFF)
    seed("overrun.bin", {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 8}}]},
         struct.pack("<I", 0x7FFFFFFF) + b"abcd")


def model_infer_request_seeds():
    # FuzzModelInferRequest: a ModelInferRequest in protobuf's wire format (Protos/grpc_predict_v2.proto),
    # encoded by hand (varints, length-delimited fields) so that this script needs no protobuf package.
    d = target("FuzzModelInferRequest")

    def varint(n):
        out = b""
        n &= (1 << 64) - 1
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out

    def field(number, payload):  # length-delimited (wire type 2)
        payload = payload.encode() if isinstance(payload, str) else payload
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def tensor(name, datatype, shape, contents=b""):
        packed_shape = b"".join(varint(x) for x in shape)
        return field(1, name) + field(2, datatype) + field(3, packed_shape) + (field(5, contents) if contents else b"")

    floats = struct.pack("<16f", *([0.25] * 16))
    classification = field(1, "classification") + field(2, varint(2 << 3) + varint(3))  # map entry: int64_param = 3
    output = field(1, "probabilities") + field(2, classification)
    write(d, "raw_fp32.pb", field(1, "tiny") + field(3, "id-1") + field(5, tensor("input", "FP32", [1, 1, 4, 4])) + field(6, output) + field(7, floats))
    write(d, "typed_fp32.pb", field(1, "tiny") + field(5, tensor("input", "FP32", [1, 1, 4, 4], field(6, floats))))
    png = open(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag", sorted(os.listdir(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag")))[0]), "rb").read()
    write(d, "typed_bytes.pb", field(1, "tiny") + field(5, tensor("input", "BYTES", [2], field(8, png) + field(8, b"\x89PNG"))))
    write(d, "raw_bytes.pb", field(1, "tiny") + field(5, tensor("input", "BYTES", [1])) + field(7, struct.pack("<I", len(png)) + png))
    write(d, "overflow_shape.pb", field(1, "tiny") + field(5, tensor("input", "FP32", [2**63 - 1, 1, 2**40, 2**40])) + field(7, floats))
    write(d, "two_raw.pb", field(1, "tiny") + field(5, tensor("input", "FP32", [1, 1, 4, 4])) + field(7, floats) + field(7, b"\x00"))


def multipart_seeds():
    d = target("FuzzMultipart")
    png = open(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag", sorted(os.listdir(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "Bag")))[0]), "rb").read()
    def body(boundary, parts):
        out = b""
        for name, filename, data in parts:
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
        return out + f"--{boundary}--\r\n".encode()
    write(d, "two_files", b"multipart/form-data; boundary=XyZ\n" + body("XyZ", [("data", "a.png", png), ("data", "b;c.png", b"\x89PNG")]))
    write(d, "no_filename", b'multipart/form-data; boundary="quoted b"\n' + body("quoted b", [("data", None, b"bytes")]))
    write(d, "truncated", b"multipart/form-data; boundary=abc\n--abc\r\nContent-Disposition: form-data; name=x\r\n\r\npartial")


def image_seeds():
    d = target("FuzzImage")
    images = sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "images", "*.png")) + glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "images", "*.jp*g")))
    for path in images:
        if os.path.getsize(path) <= 16384:
            shutil.copy(path, d)


def idx_seeds():
    d = target("FuzzIDX")
    images = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 3, 3) + bytes(range(18))
    labels = struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes([1, 7])
    for name, lab, img in [("plain", labels, images), ("gzip", gzip.compress(labels, mtime=0), gzip.compress(images, mtime=0)), ("unlabelled", b"", images)]:
        write(d, name, struct.pack("<H", len(lab)) + lab + img)


if __name__ == "__main__":
    safetensors_seeds(); config_seeds(); request_seeds(); binary_request_seeds(); model_infer_request_seeds(); multipart_seeds(); image_seeds(); idx_seeds()
    for name in sorted(os.listdir(CORPUS)):
        print(name, len(os.listdir(os.path.join(CORPUS, name))), "seed(s)")
