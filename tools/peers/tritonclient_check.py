#!/usr/bin/env python3
"""nfserve as tritonclient's users call it: tritonclient.http and tritonclient.grpc with their
default arguments.

    python tools/peers/tritonclient_check.py --url 127.0.0.1:8080 --grpc-url 127.0.0.1:8081 [--model fmnist-resnet-bn]

`InferInput.set_data_from_numpy` and `InferRequestedOutput` default to Triton's binary tensor
data extension: the request carries the FP32 tensor (or the BYTES images) as raw bytes after its
JSON header, and asks for the outputs as raw bytes. Each answer is checked against the same
request sent as plain JSON (urllib), which the server's own tests check against the model:

1. an FP32 [2, 1, 28, 28] tensor, logits and probabilities binary: equal to the JSON answer;
2. two PNG images of the shipped sample as a binary BYTES input (np.object_), the
   classification extension on top: the classes the JSON (base64) answer gives;
3. the FP32 case with binary_data=False (the JSON path through tritonclient);
4. tritonclient.grpc (KServe's v2 GRPCInferenceService): live, ready, server and model metadata,
   the FP32 tensor (raw_input_contents, tritonclient's only form) with outputs named and not
   named, the PNGs as BYTES with classification: equal to the JSON answers; then a 3-channel
   input (INVALID_ARGUMENT), a message over the server's 20 MiB limit (RESOURCE_EXHAUSTED) and an
   unknown model (NOT_FOUND), each a clear error after which the server keeps answering.

Two requests of the same input may differ in the last bits: a pass the live estimation shift
observes runs BatchNorm unfolded, one it does not runs it folded into the convolutions; FP32
answers are compared within 1e-4 relative, 1e-5 absolute; classification entries by index and
label, their values within 1e-5.

Exits 1 on any difference. tritonclient is a peer, never a dependency of nfserve.
"""
import argparse
import base64
import glob
import json
import os
import sys
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def json_infer(url, model, body):
    request = urllib.request.Request(f"http://{url}/v2/models/{model}/infer", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return {o["name"]: o for o in json.load(response)["outputs"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--grpc-url", help="host:port of nfserve's gRPC listener (--grpc-port)")
    parser.add_argument("--model", default="fmnist-resnet-bn")
    args = parser.parse_args()
    client = httpclient.InferenceServerClient(url=args.url)
    failures = []

    def check(condition, what):
        print(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    check(client.is_server_live() and client.is_model_ready(args.model), "server live, model ready")
    metadata = client.get_model_metadata(args.model)
    check(metadata["inputs"][0]["datatype"] == "FP32", f"model metadata: {metadata['inputs'][0]}")

    rng = np.random.default_rng(20261203)
    x = rng.standard_normal((2, 1, 28, 28), dtype=np.float32)
    for binary in (True, False):
        inputs = [httpclient.InferInput("input", list(x.shape), "FP32")]
        inputs[0].set_data_from_numpy(x, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("logits", binary_data=binary),
                   httpclient.InferRequestedOutput("probabilities", binary_data=binary)]
        result = client.infer(args.model, inputs, outputs=outputs)
        reference = json_infer(args.url, args.model, {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                                                                   "data": x.flatten().tolist()}],
                                                       "outputs": [{"name": "logits"}, {"name": "probabilities"}]})
        for name in ("logits", "probabilities"):
            got = result.as_numpy(name)
            want = np.array(reference[name]["data"], dtype=np.float32).reshape(reference[name]["shape"])
            close = got is not None and got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-5)
            check(close, f"FP32 input, {name} ({'binary' if binary else 'JSON'}): equal to the JSON request's"
                         f" (largest difference {np.abs(got - want).max() if close or got is not None else 'n/a'})")

    pngs = sorted(glob.glob(os.path.join(ROOT, "datasets", "fashion-mnist-sample", "*", "*.png")))[:2]
    images = [open(path, "rb").read() for path in pngs]
    # BYTES only as binary data: tritonclient sends JSON BYTES as UTF-8 strings, which encoded
    # images are not (nfserve's JSON BYTES are base64, KServe's convention).
    for binary in (True,):
        data = np.array(images, dtype=np.object_)
        inputs = [httpclient.InferInput("input", [len(images)], "BYTES")]
        inputs[0].set_data_from_numpy(data, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("probabilities", binary_data=binary, class_count=3)]
        result = client.infer(args.model, inputs, outputs=outputs)
        reference = json_infer(args.url, args.model, {
            "inputs": [{"name": "input", "datatype": "BYTES", "shape": [len(images)],
                        "data": [base64.b64encode(image).decode() for image in images]}],
            "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}]})
        got = [value.decode() if isinstance(value, bytes) else value for value in result.as_numpy("probabilities").flatten()]
        want = reference["probabilities"]["data"]

        def parts(entries):
            return [(entry.split(":", 2)[1:], float(entry.split(":", 2)[0])) for entry in entries]

        same = len(got) == len(want) and all(g[0] == w[0] and abs(g[1] - w[1]) <= 1e-5 for g, w in zip(parts(got), parts(want)))
        check(same, f"BYTES images, classification ({'binary' if binary else 'JSON'}): {got[:1]} ... the JSON request's classes")

    if args.grpc_url:
        check_grpc(args, x, images, check)

    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


def check_grpc(args, x, images, check):
    client = grpcclient.InferenceServerClient(url=args.grpc_url)
    check(client.is_server_live() and client.is_server_ready() and client.is_model_ready(args.model), "gRPC: server live and ready, model ready")
    server = client.get_server_metadata()
    check(server.name == "nfserve" and "binary_tensor_data" in server.extensions, f"gRPC: server metadata {server.name} {list(server.extensions)}")
    metadata = client.get_model_metadata(args.model)
    check(metadata.inputs[0].datatype == "FP32" and list(metadata.inputs[0].shape) == [-1, 1, -1, -1], f"gRPC: model metadata {metadata.inputs[0]}".replace("\n", " "))

    reference = json_infer(args.url, args.model, {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                                                               "data": x.flatten().tolist()}],
                                                   "outputs": [{"name": "logits"}, {"name": "probabilities"}]})
    for named in (True, False):
        inputs = [grpcclient.InferInput("input", list(x.shape), "FP32")]
        inputs[0].set_data_from_numpy(x)
        outputs = [grpcclient.InferRequestedOutput("logits"), grpcclient.InferRequestedOutput("probabilities")] if named else None
        result = client.infer(args.model, inputs, outputs=outputs)
        for name in (("logits", "probabilities") if named else ("logits",)):
            got = result.as_numpy(name)
            want = np.array(reference[name]["data"], dtype=np.float32).reshape(reference[name]["shape"])
            close = got is not None and got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-5)
            check(close, f"gRPC: FP32 input, {name} (outputs {'named' if named else 'not named'}): equal to the JSON request's"
                         f" (largest difference {np.abs(got - want).max() if got is not None and got.shape == want.shape else 'n/a'})")

    data = np.array(images, dtype=np.object_)
    inputs = [grpcclient.InferInput("input", [len(images)], "BYTES")]
    inputs[0].set_data_from_numpy(data)
    result = client.infer(args.model, inputs, outputs=[grpcclient.InferRequestedOutput("probabilities", class_count=3)])
    got = [value.decode() for value in result.as_numpy("probabilities").flatten()]
    want = json_infer(args.url, args.model, {
        "inputs": [{"name": "input", "datatype": "BYTES", "shape": [len(images)],
                    "data": [base64.b64encode(image).decode() for image in images]}],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}]})["probabilities"]["data"]
    same = len(got) == len(want) and all(g.split(":", 2)[1:] == w.split(":", 2)[1:] and abs(float(g.split(":")[0]) - float(w.split(":")[0])) <= 1e-5
                                         for g, w in zip(got, want))
    check(same, f"gRPC: BYTES images, classification: {got[:1]} ... the JSON request's classes")

    def refused(what, code, call):
        try:
            call()
            check(False, f"gRPC: {what}: answered, expected {code}")
        except InferenceServerException as error:
            check(code in str(error.status()), f"gRPC: {what}: {error.status()} {error.message()[:110]}")
        check(client.is_server_ready(), f"gRPC: ready after {what}")

    def infer(array, model=args.model):
        inputs = [grpcclient.InferInput("input", list(array.shape), "FP32")]
        inputs[0].set_data_from_numpy(array)
        return client.infer(model, inputs)

    refused("a 3-channel input", "INVALID_ARGUMENT", lambda: infer(np.zeros((1, 3, 28, 28), dtype=np.float32)))
    refused("a 26 MB message (limit 20 MiB)", "RESOURCE_EXHAUSTED", lambda: infer(np.zeros((64, 1, 320, 320), dtype=np.float32)))
    refused("an unknown model", "NOT_FOUND", lambda: infer(x, model="no-such-model"))


if __name__ == "__main__":
    main()
