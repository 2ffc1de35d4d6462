#!/usr/bin/env python3
"""Drives nfserve's model repository endpoints with Triton's own Python client (tritonclient).

Not a test dependency: run by hand against a running server to check that Triton's client
works with nfserve (issue 8). Usage, from the repository root:

    python3 -m venv /tmp/venv-triton && /tmp/venv-triton/bin/pip install -r tools/triton/requirements.txt
    echo s3cret > /tmp/token && scripts/serve.sh --port 8080 --admin-token-file /tmp/token &
    /tmp/venv-triton/bin/python tools/triton/check_repository.py --url localhost:8080 --token s3cret --model fmnist-resnet-bn

Prints each call and its result; exits 1 at the first that does not behave as Triton's does.
"""
import argparse
import sys

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="localhost:8080")
    parser.add_argument("--token", required=True)
    parser.add_argument("--model", default="fmnist-resnet-bn")
    args = parser.parse_args()
    client = httpclient.InferenceServerClient(url=args.url)
    admin = {"Authorization": f"Bearer {args.token}"}

    def check(label, condition, detail):
        print(f"{'ok  ' if condition else 'FAIL'} {label}: {detail}")
        if not condition:
            sys.exit(1)

    check("is_server_live", client.is_server_live(), "live")
    check("is_server_ready", client.is_server_ready(), "ready")

    index = client.get_model_repository_index(headers=admin)
    states = {entry["name"]: entry.get("state") for entry in index}
    check("get_model_repository_index", states.get(args.model) == "READY", index)

    try:
        client.get_model_repository_index(headers={"Authorization": "Bearer wrong"})
        check("wrong token refused", False, "the index was answered")
    except InferenceServerException as error:
        check("wrong token refused", "wrong admin token" in str(error), error)

    client.unload_model(args.model, headers=admin)
    states = {entry["name"]: entry.get("state") for entry in client.get_model_repository_index(headers=admin)}
    check("unload_model", states.get(args.model) == "UNAVAILABLE" and not client.is_model_ready(args.model),
          f"state {states.get(args.model)}, is_model_ready {client.is_model_ready(args.model)}")

    client.load_model(args.model, headers=admin)
    check("load_model", client.is_model_ready(args.model), "is_model_ready True")
    metadata = client.get_model_metadata(args.model)
    check("get_model_metadata", metadata["inputs"][0]["shape"][2:] == [-1, -1], metadata["inputs"])

    try:
        client.load_model("no-such-model", headers=admin)
        check("load of a missing folder refused", False, "it was loaded")
    except InferenceServerException as error:
        check("load of a missing folder refused", "no model folder" in str(error), error)


if __name__ == "__main__":
    main()
