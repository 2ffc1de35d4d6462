#!/usr/bin/env python3
"""Time nfserve beside its peers on this machine: PyTorch eager and ONNX Runtime (CPU) running a timm
model, nfserve running the same weights, side by side in one run.

    python tools/bench/peers.py --model resnet50 --size 224 --batch 1 --threads 2 \
        [--iterations 10] [--warmup 2] [--rounds 3] [--runtime all|both|torch|onnxruntime|nfserve] \
        [--nfserve .build/release/nfserve] [--model-args '{"json": ...}'] [--save-checkpoint DIR]

Method (docs/performance.md): timm.create_model(name, **model_args).eval() with
random weights (fixed seed), input N(0,1) [batch, in_chans, size, size];
  torch:        torch.set_num_threads(threads), forward under torch.inference_mode();
  onnxruntime:  torch.onnx.export(..., opset_version=17) to a temp dir (dynamo exporter, falling back to
                dynamo=False if it fails), CPUExecutionProvider, intra_op_num_threads=threads,
                inter_op_num_threads=1, ORT_ENABLE_ALL graph optimizations;
  nfserve:      the same timm weights saved as a checkpoint folder (config.json + model.safetensors, F32)
                in a temp dir, timed by `nfserve bench --model DIR --threads threads` (its execution plan).
`warmup` untimed runs, then `iterations` timed runs; median and min reported. Each runtime runs in its
own child process (one compute pool at a time: an idle pool of another runtime spinning on the same
2 cores would distort the numbers). With --rounds R the runtimes take turns R times (nfserve, torch,
onnxruntime, nfserve, ...), so a noisy neighbour hits them alike; the summary takes, per runtime, the
median over the rounds of each round's median, and prints the ratios to nfserve.

Prints one JSON line per runtime and round:
  {"runtime", "model", "size", "batch", "threads", "median_ms", "min_ms", "images_per_s", "gflops", ...}
then, with --runtime all, a summary table and one JSON line {"summary": ...} with the ratios.
gflops = model FLOPs / median seconds, model FLOPs = 2 * MACs of every nn.Conv2d (subclasses included:
ScaledStdConv2d...) and nn.Linear at this input size and batch, counted with forward hooks (pools,
norms, activations and the weight standardization are not counted). Extra fields: "gflop" (the model
FLOPs of one forward at this batch, in GFLOP), "model_args"; for onnxruntime "exporter", "opset"
(of the exported file) and "max_abs_diff" (ORT output vs PyTorch eager on the same input).
Progress and warnings go to stderr.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="timm model name, e.g. resnet50")
    ap.add_argument("--size", type=int, default=224, help="input height = width")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runtime", choices=("torch", "onnxruntime", "both", "nfserve", "all"), default="both")
    ap.add_argument("--rounds", type=int, default=1, help="turns each runtime takes (alternating)")
    ap.add_argument("--nfserve", default=".build/release/nfserve", help="the nfserve binary (runtime nfserve/all)")
    ap.add_argument("--save-checkpoint", metavar="DIR",
                    help="only write the model as a checkpoint folder DIR (to serve it: tools/bench/load.sh)")
    ap.add_argument("--model-args", default="{}", help="JSON object passed to timm.create_model")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    a.model_args_obj = json.loads(a.model_args)
    if not isinstance(a.model_args_obj, dict):
        ap.error("--model-args must be a JSON object")
    if a.iterations < 1 or a.warmup < 0 or a.threads < 1 or a.batch < 1:
        ap.error("iterations >= 1, warmup >= 0, threads >= 1, batch >= 1")
    return a


def build(a):
    import torch
    import timm
    torch.manual_seed(a.seed)
    model = timm.create_model(a.model, pretrained=False, **a.model_args_obj).eval()
    in_chans = a.model_args_obj.get("in_chans", 3)
    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.randn(a.batch, in_chans, a.size, a.size, generator=g)
    return model, x


def count_flops(model, x):
    """2 * MACs of Conv2d / Linear for one forward of x; also returns the output."""
    import torch
    import torch.nn as nn
    macs = [0]

    def conv_hook(m, inp, out):
        kh, kw = m.kernel_size
        macs[0] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, inp, out):
        macs[0] += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.inference_mode():
        y = model(x)
    for h in handles:
        h.remove()
    return 2 * macs[0], y


def time_loop(fn, warmup, iterations):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def export_onnx(model, x, path):
    """torch.onnx.export(..., opset_version=17): the dynamo exporter first, dynamo=False if it fails.
    Note: the dynamo exporter builds opset 18 and down-converts; where the converter has no adapter
    (e.g. Pad, used by timm's SAME padding) it keeps opset 18 and says so: the "opset" field records
    what was actually exported."""
    import logging
    import torch
    logging.getLogger("onnxscript").setLevel(logging.ERROR)  # the failed down-conversion logs a traceback
    errors = []
    for dynamo in (True, False):
        try:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(model, (x,), path, opset_version=17, dynamo=dynamo,
                                  input_names=["input"], output_names=["logits"])
            return "dynamo" if dynamo else "torchscript"
        except Exception as e:  # noqa: BLE001 - any exporter failure means: try the other one
            errors.append(f"dynamo={dynamo}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(f"[peers] ONNX export with dynamo={dynamo} failed: {errors[-1]}")
    raise RuntimeError("ONNX export failed: " + " | ".join(errors))


def run_one(a):
    import torch
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    model, x = build(a)
    flops, ref = count_flops(model, x)
    result = {
        "runtime": a.runtime,
        "model": a.model,
        "size": a.size,
        "batch": a.batch,
        "threads": a.threads,
    }
    extra = {}
    if a.runtime == "torch":
        log(f"[peers] torch {torch.__version__}: {a.model} @{a.size} batch {a.batch}, {a.threads} threads")

        def fn():
            with torch.inference_mode():
                model(x)
        times = time_loop(fn, a.warmup, a.iterations)
    else:
        import numpy as np
        import onnxruntime as ort
        with tempfile.TemporaryDirectory(prefix="peers-onnx-") as tmp:
            path = os.path.join(tmp, f"{a.model}.onnx")
            t0 = time.perf_counter()
            exporter = export_onnx(model, x, path)
            import onnx
            opset = max(o.version for o in onnx.load(path, load_external_data=False).opset_import
                        if o.domain in ("", "ai.onnx"))
            log(f"[peers] exported with {exporter} exporter in {time.perf_counter() - t0:.1f}s, opset {opset}")
            so = ort.SessionOptions()
            so.intra_op_num_threads = a.threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        feed = {in_name: x.numpy()}
        out = sess.run(None, feed)[0]
        diff = float(np.abs(out - ref.numpy()).max())
        log(f"[peers] onnxruntime {ort.__version__}: max |ort - torch| = {diff:.3g}")
        extra = {"exporter": exporter, "opset": opset, "max_abs_diff": float(f"{diff:.4g}")}
        times = time_loop(lambda: sess.run(None, feed), a.warmup, a.iterations)

    med = statistics.median(times)
    result.update({
        "median_ms": round(med * 1e3, 3),
        "min_ms": round(min(times) * 1e3, 3),
        "images_per_s": round(a.batch / med, 3),
        "gflops": round(flops / med / 1e9, 3),
        "gflop": round(flops / 1e9, 4),
        "model_args": a.model_args_obj,
        **extra,
    })
    print(json.dumps(result), flush=True)


def export_checkpoint(a, folder):
    """The timm model of `build(a)` as an nfserve checkpoint folder (timm / HF Hub layout, F32)."""
    from safetensors.torch import save_file
    model, _ = build(a)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    cfg = model.pretrained_cfg or {}
    in_chans = a.model_args_obj.get("in_chans", 3)
    config = {
        "architecture": a.model,
        "num_classes": model.num_classes,
        "model_args": a.model_args_obj,
        "pretrained_cfg": {
            "input_size": [in_chans, a.size, a.size],
            "interpolation": cfg.get("interpolation", "bilinear"),
            "crop_pct": 1.0,
            "crop_mode": "center",
            "mean": list(cfg.get("mean", (0.485, 0.456, 0.406)))[:in_chans],
            "std": list(cfg.get("std", (0.229, 0.224, 0.225)))[:in_chans],
        },
    }
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})


def run_child(a, runtime, checkpoint):
    """One runtime's timing in a process of its own; returns its JSON line (also printed)."""
    if runtime == "nfserve":
        cmd = [a.nfserve, "bench", "--model", checkpoint, "--size", str(a.size), "--batch", str(a.batch),
               "--threads", str(a.threads), "--iterations", str(a.iterations), "--warmup", str(a.warmup)]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--model", a.model, "--size", str(a.size),
               "--batch", str(a.batch), "--threads", str(a.threads), "--iterations", str(a.iterations),
               "--warmup", str(a.warmup), "--runtime", runtime, "--model-args", a.model_args,
               "--seed", str(a.seed)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{runtime} failed ({r.returncode}): {' '.join(cmd)}")
    line = [x for x in r.stdout.splitlines() if x.startswith("{")][-1]
    result = json.loads(line)
    result["runtime"] = runtime
    print(json.dumps(result), flush=True)
    return result


def main():
    a = parse_args()
    if a.save_checkpoint:
        export_checkpoint(a, a.save_checkpoint)
        return
    if a.runtime in ("torch", "onnxruntime"):
        run_one(a)
        return
    runtimes = {"both": ["torch", "onnxruntime"], "nfserve": ["nfserve"],
                "all": ["nfserve", "torch", "onnxruntime"]}[a.runtime]
    with tempfile.TemporaryDirectory(prefix="peers-checkpoint-") as tmp:
        checkpoint = os.path.join(tmp, a.model)
        if "nfserve" in runtimes:
            export_checkpoint(a, checkpoint)
        results = {rt: [] for rt in runtimes}
        for round_ in range(a.rounds):
            for rt in runtimes:
                log(f"[peers] round {round_ + 1}/{a.rounds}: {rt}")
                results[rt].append(run_child(a, rt, checkpoint))
    if len(runtimes) < 2:
        return
    medians = {rt: statistics.median(r["median_ms"] for r in rs) for rt, rs in results.items()}
    base = medians.get("nfserve")
    log(f"{a.model} @{a.size}, batch {a.batch}, {a.threads} threads, median of {a.rounds} alternating rounds:")
    for rt in runtimes:
        ratio = f"  ({medians[rt] / base:.2f}x nfserve's time)" if base else ""
        log(f"  {rt:12s} {medians[rt]:9.1f} ms  {a.batch / medians[rt] * 1000:8.1f} images/s{ratio}")
    print(json.dumps({"summary": {"model": a.model, "size": a.size, "batch": a.batch, "threads": a.threads,
                                  "rounds": a.rounds, "median_ms": medians,
                                  "ratio_to_nfserve": {rt: round(m / base, 3) for rt, m in medians.items()} if base else None}}),
          flush=True)


if __name__ == "__main__":
    main()
