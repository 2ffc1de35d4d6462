#!/usr/bin/env python3
"""The estimation shift of served BatchNorm models on clean and shifted datasets, before and
after AdaBN recalibration, through a running nfserve's HTTP API (Python standard library only).

For each model and dataset: GET /diagnostics/esm?dataset= (per-layer ESM with the checkpoint's
statistics), POST /models/{model}/recalibrate?dataset= (AdaBN layer by layer on that dataset:
top-1 before and after, ESM after), then POST /models/{model}/restore. Prints a Markdown table:
mean and max of esm_mean and esm_var over the model's BatchNorm layers, top-1 before and after.

Usage (the shifted datasets come from tools/datasets/make_shifted_fashion_mnist.py):
    NFSERVE_ADMIN_TOKEN=secret nfserve serve --port 8080 &
    NFSERVE_ADMIN_TOKEN=secret tools/esm/shift_table.py [--url http://127.0.0.1:8080]
        [--models fmnist-resnet-bn fmnist-resnet-xbn] [--datasets fashion-mnist-test fmnist-contrast-0.5 ...]
"""
import argparse
import json
import os
import urllib.request

SHIFTED = ["fashion-mnist-test"] + [f"fmnist-{kind}-{s}" for kind, strengths in
                                    [("contrast", ["0.5", "0.25", "0.1"]), ("brightness", ["40", "80", "120"]),
                                     ("noise", ["16", "32", "64"])] for s in strengths]


def call(url, method="GET", token=None):
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=3600) as response:
        return json.load(response)


def summary(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values), max(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--models", nargs="+", default=["fmnist-resnet-bn", "fmnist-resnet-xbn"])
    parser.add_argument("--datasets", nargs="+", default=SHIFTED)
    args = parser.parse_args()
    token = os.environ.get("NFSERVE_ADMIN_TOKEN")
    print("| model | dataset | esm_mean mean / max | esm_var mean / max | top-1 | top-1 after AdaBN | esm_var max after |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model in args.models:
        for dataset in args.datasets:
            esm = call(f"{args.url}/diagnostics/esm?model={model}&dataset={dataset}")
            mean_mean, mean_max = summary(layer["esm_mean"] for layer in esm["layers"])
            var_mean, var_max = summary(layer["esm_var"] for layer in esm["layers"])
            recalibrated = call(f"{args.url}/models/{model}/recalibrate?dataset={dataset}", "POST", token)
            _, after_max = summary(layer["esm_var_after"] for layer in recalibrated["layers"])
            call(f"{args.url}/models/{model}/restore", "POST", token)
            print(f"| {model} | {dataset} | {mean_mean:.3f} / {mean_max:.3f} | {var_mean:.3f} / {var_max:.3f} | "
                  f"{recalibrated['top1_before']:.4f} | {recalibrated['top1_after']:.4f} | {after_max:.1e} |", flush=True)


if __name__ == "__main__":
    main()
