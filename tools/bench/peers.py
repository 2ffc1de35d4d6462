#!/usr/bin/env python3
"""Time nfserve beside its peers on this machine: PyTorch eager, ONNX Runtime (CPU, FP32 and int8) and
OpenVINO (CPU) running a timm model, nfserve (FP32 and int8) running the same weights, side by side in
one run.

    python tools/bench/peers.py --model resnet50 --size 224 --batch 1 --threads 2 \
        [--iterations 10] [--warmup 2] [--rounds 3] [--runtime all|both|torch|onnxruntime|nfserve|lowprecision|LIST] \
        [--nfserve .build/release/nfserve] [--model-args '{"json": ...}'] [--save-checkpoint DIR] \
        [--calibration-images 32] [--agreement-images 64] [--ort-reduce-range]

--runtime takes one of the choices above or a comma-separated list of runtime names (nfserve,
nfserve-int8, nfserve-bf16, torch, onnxruntime, onnxruntime-int8, openvino-fp32, openvino), timed in
that order; both = torch,onnxruntime; all = nfserve,torch,onnxruntime; lowprecision =
nfserve,nfserve-int8,nfserve-bf16,onnxruntime,onnxruntime-int8,openvino-fp32,openvino.

Method (docs/performance.md): timm.create_model(name, **model_args).eval() with
random weights (fixed seed), input N(0,1) [batch, in_chans, size, size];
  torch:        torch.set_num_threads(threads), forward under torch.inference_mode();
  onnxruntime:  torch.onnx.export(..., opset_version=17) to a temp dir (dynamo exporter, falling back to
                dynamo=False if it fails), CPUExecutionProvider, intra_op_num_threads=threads,
                inter_op_num_threads=1, ORT_ENABLE_ALL graph optimizations;
  onnxruntime-int8: the same ONNX export, first through onnxruntime.quantization.shape_inference.
                quant_pre_process (if it fails: the unprocessed export, with a warning; it constant-folds
                e.g. nf_resnet50's weight standardization, so that every Conv gets constant int8 weights), then
                quantize_static: QDQ format, per_channel=True, activations QUInt8, weights QInt8,
                reduce_range=False (True with --ort-reduce-range), CalibrationMethod.MinMax, calibrated on
                --calibration-images N(0,1) images [1, in_chans, size, size]: the images `nfserve calibrate
                --dataset gaussian --seed S` calibrates nfserve-int8 on (gaussian_images: nfserve's own
                SplitMix64 generator, seed --seed), one image per calibration call (at --batch B > 1 the
                export's input is [B, ...]: each call takes B of them, the last call wrapping around to the
                first ones; MinMax ranges are min/max over all images, so they are the same). Timed like
                onnxruntime (same session options).
  openvino-fp32: OpenVINO (CPU) reading the same ONNX file, core.compile_model(model, "CPU",
                {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
                "PERFORMANCE_HINT": "LATENCY"}), timed with one infer request whose input tensor is set once;
  openvino:     the same without INFERENCE_PRECISION_HINT: OpenVINO's default precision for this CPU (bf16
                on x86 CPUs with native bf16, AVX512-BF16 or AMX; f32 on AVX2-only ones);
  nfserve:      the same timm weights saved as a checkpoint folder (config.json + model.safetensors, F32)
                in a temp dir, timed by `nfserve bench --model DIR --threads threads` (its execution plan);
  nfserve-int8: the same weights in a checkpoint folder of its own, `nfserve calibrate --model DIR
                --dataset gaussian --limit N --seed S` (N = --calibration-images, S = --seed; the same
                images as onnxruntime-int8's) and `nfserve precision` on the agreement set once before
                the rounds, then timed by the same `nfserve bench` with `--precision int8`.
  nfserve-bf16: the FP32 folder, timed by `nfserve bench --precision bf16` (no calibration; needs an
                AVX-512 CPU, else nfserve refuses and the line is an error).
`warmup` untimed runs, then `iterations` timed runs; median and min reported. Each runtime runs in its
own child process (one compute pool at a time: an idle pool of another runtime spinning on the same
2 cores would distort the numbers). With --rounds R the runtimes take turns R times (nfserve, torch,
onnxruntime, nfserve, ...), so a noisy neighbour hits them alike; the summary takes, per runtime, the
median over the rounds of each round's median, and prints the ratios to nfserve (for the low-precision
runtimes, onnxruntime-int8 and openvino when it chose a precision other than f32: to nfserve-int8, if
it ran).

Prints one JSON line per runtime and round:
  {"runtime", "model", "size", "batch", "threads", "median_ms", "min_ms", "images_per_s", "gflops", ...}
then, with two runtimes or more, a summary table and one JSON line {"summary": ...} with the ratios.
gflops = model FLOPs / median seconds, model FLOPs = 2 * MACs of every nn.Conv2d (subclasses included:
ScaledStdConv2d...) and nn.Linear at this input size and batch, counted with forward hooks (pools,
norms, activations and the weight standardization are not counted). Extra fields: "gflop" (the model
FLOPs of one forward at this batch, in GFLOP), "model_args"; for onnxruntime "exporter", "opset"
(of the exported file) and "max_abs_diff" (ORT output vs PyTorch eager on the same input).
For onnxruntime-int8, openvino-fp32 and openvino, agreement with PyTorch eager FP32 over an agreement
set: --agreement-images N(0,1) images from nfserve's generator, rounded up to chunks of 16 (chunk j
with seed --seed + 2 + j: `nfserve precision` takes 16 images a run), run in batches of --batch (the
export has a fixed batch), each batch through the
runtime and through PyTorch eager: "top1_agreement" (fraction of the set whose argmax equals eager's),
"max_abs_diff" (max |logit difference| over the set), "agreement_images" (its size), and for scale
"ref_max_abs_logit" (max |eager logit|) and "ref_top1_classes" (how many distinct classes eager's argmax
takes over the set: with random weights only a few, with top-1/top-2 margins near int8's logit error, so
top1_agreement is a coarse signal there; the onnxruntime runtime keeps its single-batch max_abs_diff). Also
onnxruntime-int8: "exporter", "opset", "quant_pre_process" (whether it succeeded), "reduce_range",
"calibration_images"; openvino*: "ov_precision" (compiled.get_property("INFERENCE_PRECISION_HINT"):
the precision OpenVINO actually chose), "ov_version", "exporter", "opset". nfserve-int8's line is
`nfserve bench`'s with "calibration" (what `nfserve calibrate` printed) and the agreement on the same
set from `nfserve precision --input gaussian --batch 16 --seed S+2+j` (its int8 plan against its FP32
plan, which follows timm's FP32 to float rounding): "top1_agreement", "max_abs_diff",
"agreement_images", "agreement_reference" ("nfserve FP32"), and the diagnostic's SQNRs "logits_sqnr_db"
and "site_sqnr_db" (first and last block). A runtime that fails inside a list or lowprecision run prints
{"runtime", "error", ...} instead and the others go on (exit status 1 at the end); with the older
choices (all, both, nfserve, torch, onnxruntime) a failure stops the run as before.
Progress and warnings go to stderr.
"""
import argparse
import collections
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

NFSERVE_RUNTIMES = ("nfserve", "nfserve-int8", "nfserve-bf16")
PYTHON_RUNTIMES = ("torch", "onnxruntime", "onnxruntime-int8", "openvino-fp32", "openvino")
RUNTIMES = NFSERVE_RUNTIMES + PYTHON_RUNTIMES
GROUPS = {
    "both": ["torch", "onnxruntime"],
    "nfserve": ["nfserve"],
    "all": ["nfserve", "torch", "onnxruntime"],
    "lowprecision": ["nfserve", "nfserve-int8", "nfserve-bf16", "onnxruntime", "onnxruntime-int8", "openvino-fp32",
                     "openvino"],
}
# The choices that existed before the low-precision runtimes: a failure stops these runs (as it did).
LEGACY_CHOICES = ("torch", "onnxruntime", "both", "nfserve", "all")


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
    ap.add_argument("--runtime", default="both",
                    help="all, both, nfserve, lowprecision, or one runtime or a comma-separated list of them: "
                         + ", ".join(RUNTIMES) + " (default: both)")
    ap.add_argument("--rounds", type=int, default=1, help="turns each runtime takes (alternating)")
    ap.add_argument("--nfserve", default=".build/release/nfserve",
                    help="the nfserve binary (runtimes nfserve, nfserve-int8)")
    ap.add_argument("--save-checkpoint", metavar="DIR",
                    help="only write the model as a checkpoint folder DIR (to serve it: tools/bench/load.sh)")
    ap.add_argument("--model-args", default="{}", help="JSON object passed to timm.create_model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibration-images", type=int, default=32,
                    help="N(0,1) images calibrating onnxruntime-int8 and nfserve-int8 (default 32)")
    ap.add_argument("--agreement-images", type=int, default=64,
                    help="N(0,1) images beyond the timed batch on which onnxruntime-int8 and openvino* are compared "
                         "with PyTorch eager FP32 (default 64)")
    ap.add_argument("--ort-reduce-range", action="store_true",
                    help="onnxruntime-int8: quantize_static(reduce_range=True) (7-bit weights)")
    a = ap.parse_args(argv)
    a.model_args_obj = json.loads(a.model_args)
    if not isinstance(a.model_args_obj, dict):
        ap.error("--model-args must be a JSON object")
    if a.iterations < 1 or a.warmup < 0 or a.threads < 1 or a.batch < 1:
        ap.error("iterations >= 1, warmup >= 0, threads >= 1, batch >= 1")
    if a.calibration_images < 1 or a.agreement_images < 0:
        ap.error("calibration-images >= 1, agreement-images >= 0")
    if a.runtime in GROUPS:
        a.runtimes = list(GROUPS[a.runtime])
    else:
        names = [n.strip() for n in a.runtime.split(",") if n.strip()]
        unknown = [n for n in names if n not in RUNTIMES]
        if not names or unknown:
            ap.error(f"--runtime: unknown runtime {', '.join(unknown) or repr(a.runtime)} "
                     f"(choose from {', '.join(dict.fromkeys(tuple(GROUPS) + RUNTIMES))}, or a comma-separated list of "
                     f"{', '.join(RUNTIMES)})")
        a.runtimes = list(dict.fromkeys(names))  # in the order given, each once
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
    import contextlib
    import logging
    import torch
    logging.getLogger("onnxscript").setLevel(logging.ERROR)  # the failed down-conversion logs a traceback
    errors = []
    for dynamo in (True, False):
        try:
            # the exporter prints its progress ([torch.onnx] ...) on stdout: keep stdout for the JSON lines
            with torch.inference_mode(False), torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
                torch.onnx.export(model, (x,), path, opset_version=17, dynamo=dynamo,
                                  input_names=["input"], output_names=["logits"])
            return "dynamo" if dynamo else "torchscript"
        except Exception as e:  # noqa: BLE001 - any exporter failure means: try the other one
            errors.append(f"dynamo={dynamo}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(f"[peers] ONNX export with dynamo={dynamo} failed: {errors[-1]}")
    raise RuntimeError("ONNX export failed: " + " | ".join(errors))


def export_logged(a, model, x, tmp):
    """export_onnx into tmp; returns (path, exporter, opset of the file)."""
    import onnx
    path = os.path.join(tmp, f"{a.model}.onnx")
    t0 = time.perf_counter()
    exporter = export_onnx(model, x, path)
    opset = max(o.version for o in onnx.load(path, load_external_data=False).opset_import
                if o.domain in ("", "ai.onnx"))
    log(f"[peers] exported with {exporter} exporter in {time.perf_counter() - t0:.1f}s, opset {opset}")
    return path, exporter, opset


def ort_session(a, path):
    """An ONNX Runtime CPU session with the benchmark's options (the same for FP32 and int8)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def gaussian_images(seed, count, shape):
    """`count` N(0,1) float32 images of shape [C, H, W]: nfserve's own gaussian input (`nfserve calibrate
    --dataset gaussian --seed S`, `nfserve precision --input gaussian --seed S`), so that every runtime
    calibrates on, and is compared on, the same images. Value i (row-major over [count, C, H, W]) is
    float32(sqrt(-2 ln u1) cos(2 pi u2)) with u1, u2 draws 2i+1, 2i+2 of SplitMix64(seed) mapped to
    ((z >> 11) + 0.5) / 2^53 (Sources/NFLayers/RandomNormal.swift), vectorized; numpy's log and cos may
    differ from glibc's in the last bit of a double, which float32 rounding hides but for rare values."""
    import numpy as np
    n = count * int(np.prod(shape))
    k = np.arange(1, 2 * n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 9007199254740992.0
    del z, k
    values = np.sqrt(-2.0 * np.log(u[0::2])) * np.cos(2.0 * np.pi * u[1::2])
    return values.astype(np.float32).reshape((count, *shape))


def quantize_ort(a, path, tmp, x):
    """The ONNX file at `path` through quant_pre_process (if it works) and quantize_static (QDQ, per
    channel, U8 activations / S8 weights, MinMax on --calibration-images Gaussian images). Returns
    (path of the int8 model, whether quant_pre_process succeeded)."""
    import onnxruntime as ort  # noqa: F401 - the quantization tools need it importable
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = path
    pre_path = os.path.join(tmp, f"{a.model}.pre.onnx")
    t0 = time.perf_counter()
    try:
        quant_pre_process(path, pre_path)
        source, preprocessed = pre_path, True
        log(f"[peers] quant_pre_process in {time.perf_counter() - t0:.1f}s")
    except Exception as e:  # noqa: BLE001 - the unprocessed model still quantizes
        preprocessed = False
        first = str(e).splitlines()[0] if str(e) else ""
        log(f"[peers] warning: quant_pre_process failed ({type(e).__name__}: {first}); quantizing the unprocessed export")

    batch = x.shape[0]
    images = gaussian_images(a.seed, a.calibration_images, tuple(x.shape[1:]))
    calls = math.ceil(len(images) / batch)

    class Reader(CalibrationDataReader):
        """One image per call at batch 1; at batch B the export's fixed [B, ...] input takes B images per
        call, the last call wrapping around (repeats change no min/max)."""

        def __init__(self, input_name):
            self.input_name, self.i = input_name, 0

        def get_next(self):
            if self.i >= calls:
                return None
            idx = [(self.i * batch + j) % len(images) for j in range(batch)]
            self.i += 1
            return {self.input_name: images[idx]}

        def __len__(self):
            return calls

    import onnx
    input_name = onnx.load(source, load_external_data=False).graph.input[0].name
    qpath = os.path.join(tmp, f"{a.model}.int8.onnx")
    t0 = time.perf_counter()
    quantize_static(source, qpath, Reader(input_name), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=a.ort_reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    log(f"[peers] quantize_static (QDQ, per channel, U8/S8, MinMax, {len(images)} images, "
        f"reduce_range={a.ort_reduce_range}) in {time.perf_counter() - t0:.1f}s")
    return qpath, preprocessed


# `nfserve precision` takes at most 16 images a run (SignalPropagationLimits.maxBatch).
AGREEMENT_CHUNK = 16


def agreement_seeds(a):
    """The agreement set: --agreement-images rounded up to chunks of 16 N(0,1) images, chunk j from
    nfserve's generator with seed --seed + 2 + j (what `nfserve precision --batch 16 --seed S` compares)."""
    return [a.seed + 2 + j for j in range(max(1, math.ceil(a.agreement_images / AGREEMENT_CHUNK)))]


def agreement_set(a, shape):
    import numpy as np
    return np.concatenate([gaussian_images(seed, AGREEMENT_CHUNK, shape) for seed in agreement_seeds(a)])


def agreement(a, model, x, run_batch):
    """Top-1 agreement and max |logit difference| of run_batch (numpy [B, C, H, W] -> logits) with PyTorch
    eager FP32 over the agreement set (agreement_set: the images `nfserve precision` compares
    nfserve-int8 on), in batches of x's batch size (the last one filled up with the first images, which
    are not counted twice)."""
    import numpy as np
    import torch
    batch = x.shape[0]
    images = agreement_set(a, tuple(x.shape[1:]))
    count = len(images)
    agree, total, max_diff, max_ref, classes = 0, 0, 0.0, 0.0, set()
    for i in range(0, count, batch):
        real = min(batch, count - i)
        b = np.ascontiguousarray(np.concatenate([images[i:i + real], images[:batch - real]]))
        with torch.inference_mode():
            ref = model(torch.from_numpy(b)).numpy()[:real]
        out = np.asarray(run_batch(b))[:real].reshape(ref.shape)
        agree += int((out.argmax(axis=1) == ref.argmax(axis=1)).sum())
        total += b.shape[0]
        max_diff = max(max_diff, float(np.abs(out - ref).max()))
        max_ref = max(max_ref, float(np.abs(ref).max()))
        classes.update(int(c) for c in ref.argmax(axis=1))
    return {"top1_agreement": round(agree / total, 4), "max_abs_diff": float(f"{max_diff:.4g}"),
            "agreement_images": total, "ref_max_abs_logit": float(f"{max_ref:.4g}"), "ref_top1_classes": len(classes)}


def run_one(a):
    """Times one Python runtime (a.runtimes[0]) in this process and prints its JSON line. A failure of
    onnxruntime-int8 or openvino* prints {"runtime", "error"} and exits 1; torch and onnxruntime raise as before."""
    runtime = a.runtimes[0]
    if runtime in ("torch", "onnxruntime"):
        return _run_one(a, runtime)
    try:
        _run_one(a, runtime)
    except Exception as e:  # noqa: BLE001 - reported as this runtime's failure
        import traceback
        traceback.print_exc()
        first = str(e).splitlines()[0] if str(e) else ""
        print(json.dumps({"runtime": runtime, "model": a.model, "size": a.size, "batch": a.batch,
                          "threads": a.threads, "error": f"{type(e).__name__}: {first}"}), flush=True)
        sys.exit(1)


def _run_one(a, runtime):
    import torch
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    model, x = build(a)
    flops, ref = count_flops(model, x)
    result = {
        "runtime": runtime,
        "model": a.model,
        "size": a.size,
        "batch": a.batch,
        "threads": a.threads,
    }
    extra = {}
    if runtime == "torch":
        log(f"[peers] torch {torch.__version__}: {a.model} @{a.size} batch {a.batch}, {a.threads} threads")

        def fn():
            with torch.inference_mode():
                model(x)
        times = time_loop(fn, a.warmup, a.iterations)
    elif runtime == "onnxruntime":
        import numpy as np
        import onnxruntime as ort
        with tempfile.TemporaryDirectory(prefix="peers-onnx-") as tmp:
            path, exporter, opset = export_logged(a, model, x, tmp)
            sess = ort_session(a, path)
        in_name = sess.get_inputs()[0].name
        feed = {in_name: x.numpy()}
        out = sess.run(None, feed)[0]
        diff = float(np.abs(out - ref.numpy()).max())
        log(f"[peers] onnxruntime {ort.__version__}: max |ort - torch| = {diff:.3g}")
        extra = {"exporter": exporter, "opset": opset, "max_abs_diff": float(f"{diff:.4g}")}
        times = time_loop(lambda: sess.run(None, feed), a.warmup, a.iterations)
    elif runtime == "onnxruntime-int8":
        import onnxruntime as ort
        with tempfile.TemporaryDirectory(prefix="peers-onnx-") as tmp:
            path, exporter, opset = export_logged(a, model, x, tmp)
            qpath, preprocessed = quantize_ort(a, path, tmp, x)
            sess = ort_session(a, qpath)
        in_name = sess.get_inputs()[0].name
        feed = {in_name: x.numpy()}
        log(f"[peers] onnxruntime {ort.__version__} int8: {a.model} @{a.size} batch {a.batch}, {a.threads} threads")
        times = time_loop(lambda: sess.run(None, feed), a.warmup, a.iterations)
        agree = agreement(a, model, x, lambda b: sess.run(None, {in_name: b})[0])
        log(f"[peers] onnxruntime-int8 vs torch FP32: top-1 agreement {agree['top1_agreement']} "
            f"over {agree['agreement_images']} images, max |diff| = {agree['max_abs_diff']:.3g}")
        extra = {"exporter": exporter, "opset": opset, "quant_pre_process": preprocessed,
                 "quant_format": "QDQ", "per_channel": True, "activation_type": "QUInt8", "weight_type": "QInt8",
                 "calibrate_method": "MinMax", "reduce_range": a.ort_reduce_range,
                 "calibration_images": a.calibration_images, **agree}
    else:  # openvino-fp32, openvino
        import numpy as np
        import openvino as ov
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY"}
        if runtime == "openvino-fp32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        with tempfile.TemporaryDirectory(prefix="peers-onnx-") as tmp:
            path, exporter, opset = export_logged(a, model, x, tmp)
            t0 = time.perf_counter()
            compiled = core.compile_model(core.read_model(path), "CPU", config)
            log(f"[peers] OpenVINO compile_model in {time.perf_counter() - t0:.1f}s")
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        log(f"[peers] openvino {ov.get_version()}: {a.model} @{a.size} batch {a.batch}, "
            f"{compiled.get_property('INFERENCE_NUM_THREADS')} threads, precision {precision}")
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(np.ascontiguousarray(x.numpy())))
        times = time_loop(request.infer, a.warmup, a.iterations)

        def run_batch(b):
            r = compiled.create_infer_request()
            r.set_input_tensor(ov.Tensor(b))
            r.infer()
            return r.get_output_tensor(0).data.copy()
        agree = agreement(a, model, x, run_batch)
        log(f"[peers] {runtime} vs torch FP32: top-1 agreement {agree['top1_agreement']} "
            f"over {agree['agreement_images']} images, max |diff| = {agree['max_abs_diff']:.3g}")
        extra = {"exporter": exporter, "opset": opset, "ov_precision": precision,
                 "ov_version": ov.get_version(), **agree}

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


def copy_checkpoint(src, dst):
    """src's files into the folder dst (hard links where the file system allows)."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        try:
            os.link(os.path.join(src, name), os.path.join(dst, name))
        except OSError:
            shutil.copy2(os.path.join(src, name), os.path.join(dst, name))


class RuntimeFailure(Exception):
    def __init__(self, runtime, cmd, returncode, error):
        super().__init__(error)
        self.runtime, self.cmd, self.returncode, self.error = runtime, cmd, returncode, error


def run_cmd(cmd):
    """Runs cmd with its stderr passed through to ours as it comes; returns (returncode, stdout, the last
    lines of its stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    tail = collections.deque(maxlen=40)

    def pump():
        for line in p.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip("\n"))
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    out = p.stdout.read()
    p.wait()
    t.join()
    return p.returncode, out, list(tail)


def failure_message(stdout, stderr_tail, returncode):
    """The error a failed child gave: its {"error"} JSON line, else the first 'Error:' line of its stderr
    (Swift ArgumentParser's), else the last line of its stderr."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("error"):
                return str(obj["error"])
    lines = [x.strip() for x in stderr_tail if x.strip()]
    for line in lines:
        if line.lower().startswith("error"):
            return line
    return lines[-1] if lines else f"exit status {returncode}"


def last_json(stdout):
    lines = [x for x in stdout.splitlines() if x.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_child(a, runtime, checkpoint, extra=None):
    """One runtime's timing in a process of its own; returns its JSON line (also printed) with `extra`
    added. Raises RuntimeFailure when the child fails or prints no JSON line."""
    if runtime in NFSERVE_RUNTIMES:
        cmd = [a.nfserve, "bench", "--model", checkpoint, "--size", str(a.size), "--batch", str(a.batch),
               "--threads", str(a.threads), "--iterations", str(a.iterations), "--warmup", str(a.warmup)]
        if runtime == "nfserve-int8":
            cmd += ["--precision", "int8"]
        if runtime == "nfserve-bf16":
            cmd += ["--precision", "bf16"]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--model", a.model, "--size", str(a.size),
               "--batch", str(a.batch), "--threads", str(a.threads), "--iterations", str(a.iterations),
               "--warmup", str(a.warmup), "--runtime", runtime, "--model-args", a.model_args,
               "--seed", str(a.seed), "--calibration-images", str(a.calibration_images),
               "--agreement-images", str(a.agreement_images)]
        if a.ort_reduce_range:
            cmd.append("--ort-reduce-range")
    try:
        rc, out, err = run_cmd(cmd)
    except OSError as e:
        raise RuntimeFailure(runtime, cmd, None, f"{type(e).__name__}: {e}") from e
    if rc != 0:
        raise RuntimeFailure(runtime, cmd, rc, failure_message(out, err, rc))
    try:
        result = last_json(out)
    except ValueError:
        result = None
    if not isinstance(result, dict) or "median_ms" not in result:
        raise RuntimeFailure(runtime, cmd, rc, "no result line on stdout")
    result["runtime"] = runtime
    result.update(extra or {})
    print(json.dumps(result), flush=True)
    return result


def int8_step(cmd):
    """Runs one of nfserve-int8's preparation commands (`nfserve calibrate`, `nfserve precision`); returns
    (its exit status, its stdout). Raises RuntimeFailure (as nfserve-int8's) if it fails."""
    log(f"[peers] nfserve-int8: {' '.join(cmd)}")
    try:
        rc, out, err = run_cmd(cmd)
    except OSError as e:
        raise RuntimeFailure("nfserve-int8", cmd, None, f"{type(e).__name__}: {e}") from e
    if rc != 0:
        raise RuntimeFailure("nfserve-int8", cmd, rc, f"nfserve {cmd[1]}: " + failure_message(out, err, rc))
    return rc, out


def calibrate_nfserve(a, checkpoint):
    """`nfserve calibrate --model DIR --dataset gaussian --limit N --seed S`: returns what it printed (its
    JSON line, if any). Raises RuntimeFailure (as nfserve-int8's) if it fails."""
    _, out = int8_step([a.nfserve, "calibrate", "--model", checkpoint, "--dataset", "gaussian",
                        "--limit", str(a.calibration_images), "--seed", str(a.seed)])
    try:
        return last_json(out)
    except ValueError:
        return None


def nfserve_agreement(a, checkpoint):
    """`nfserve precision --model DIR --precision int8 --input gaussian --batch 16 --size S --seed SEED`
    for each chunk of the agreement set (agreement_seeds): the calibrated int8 plan against nfserve's FP32
    plan on the images the other runtimes are compared on. Returns {"top1_agreement", "max_abs_diff",
    "agreement_images", "agreement_reference": "nfserve FP32", "logits_sqnr_db", "site_sqnr_db": [first
    block, last block]} (agreement over all images, the largest difference, the SQNRs' median over the
    chunks). Raises RuntimeFailure (as nfserve-int8's) if it fails."""
    agree, max_diff, logit_sqnr, first, last = 0.0, 0.0, [], [], []
    for seed in agreement_seeds(a):
        cmd = [a.nfserve, "precision", "--model", checkpoint, "--precision", "int8", "--input", "gaussian",
               "--batch", str(AGREEMENT_CHUNK), "--size", str(a.size), "--seed", str(seed)]
        rc, out = int8_step(cmd)
        try:
            report = last_json(out) or {}
            logits = report["logits"]
            sites = [s["sqnr_db"] for s in report["sites"] if s.get("sqnr_db") is not None]
            agree += logits["top1_agreement"] * AGREEMENT_CHUNK
            max_diff = max(max_diff, logits["max_abs_difference"])
            logit_sqnr.append(logits["error"]["sqnr_db"])
            first.append(sites[0])
            last.append(sites[-1])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise RuntimeFailure("nfserve-int8", cmd, rc, f"nfserve precision: unexpected report ({e})") from e
    count = AGREEMENT_CHUNK * len(agreement_seeds(a))
    median = lambda v: round(statistics.median(x for x in v if x is not None), 2) if any(x is not None for x in v) else None  # noqa: E731
    result = {"top1_agreement": round(agree / count, 4), "max_abs_diff": float(f"{max_diff:.4g}"),
              "agreement_images": count, "agreement_reference": "nfserve FP32",
              "logits_sqnr_db": median(logit_sqnr), "site_sqnr_db": [median(first), median(last)]}
    log(f"[peers] nfserve-int8 vs nfserve FP32: top-1 agreement {result['top1_agreement']} over {count} images, "
        f"SQNR first block {result['site_sqnr_db'][:1]} last {result['site_sqnr_db'][1:]} logits {result['logits_sqnr_db']}")
    return result


def is_low_precision(rt, results):
    if rt == "onnxruntime-int8":
        return True
    if rt == "openvino":
        return any(r.get("ov_precision") not in (None, "f32") for r in results)
    return False


def main():
    a = parse_args()
    if a.save_checkpoint:
        export_checkpoint(a, a.save_checkpoint)
        return
    if len(a.runtimes) == 1 and a.runtimes[0] in PYTHON_RUNTIMES:
        run_one(a)
        return
    legacy = a.runtime in LEGACY_CHOICES
    runtimes = list(a.runtimes)
    failed = {}

    def fail(f):
        if legacy:
            raise SystemExit(f"{f.runtime} failed ({f.returncode}): {' '.join(f.cmd)}")
        failed[f.runtime] = f.error
        log(f"[peers] {f.runtime} failed: {f.error}")
        print(json.dumps({"runtime": f.runtime, "model": a.model, "size": a.size, "batch": a.batch,
                          "threads": a.threads, "error": f.error, "command": " ".join(f.cmd)}), flush=True)

    with tempfile.TemporaryDirectory(prefix="peers-checkpoint-") as tmp:
        checkpoint = os.path.join(tmp, a.model)
        checkpoints = {rt: checkpoint for rt in runtimes}
        if any(rt in NFSERVE_RUNTIMES for rt in runtimes):
            export_checkpoint(a, checkpoint)
        calibration, int8_agreement = None, {}
        if "nfserve-int8" in runtimes:
            # a folder of its own, so that calibration.json leaves the FP32 run's folder as it was
            checkpoints["nfserve-int8"] = os.path.join(tmp, "int8", a.model)
            copy_checkpoint(checkpoint, checkpoints["nfserve-int8"])
            try:
                calibration = calibrate_nfserve(a, checkpoints["nfserve-int8"])
                int8_agreement = nfserve_agreement(a, checkpoints["nfserve-int8"])
            except RuntimeFailure as f:
                fail(f)
        results = {rt: [] for rt in runtimes}
        for round_ in range(a.rounds):
            for rt in runtimes:
                if rt in failed:
                    continue
                log(f"[peers] round {round_ + 1}/{a.rounds}: {rt}")
                extra = None
                if rt == "nfserve-int8" and calibration is not None:
                    extra = {"calibration": calibration, **int8_agreement}
                try:
                    results[rt].append(run_child(a, rt, checkpoints[rt], extra))
                except RuntimeFailure as f:
                    fail(f)
    if len(runtimes) >= 2:
        summarize(a, runtimes, results, failed)
    if failed:
        sys.exit(1)


def summarize(a, runtimes, results, failed):
    medians = {rt: statistics.median(r["median_ms"] for r in rs) for rt, rs in results.items() if rs}
    base = medians.get("nfserve")
    base8 = medians.get("nfserve-int8")
    base16 = medians.get("nfserve-bf16")
    low = [rt for rt in medians if is_low_precision(rt, results[rt])]
    width = max([12] + [len(rt) for rt in runtimes])
    log(f"{a.model} @{a.size}, batch {a.batch}, {a.threads} threads, median of {a.rounds} alternating rounds:")
    for rt in runtimes:
        if rt not in medians:
            log(f"  {rt:{width}s} failed: {failed.get(rt, 'no result')}")
            continue
        ref_name, ref = ("nfserve-int8", base8) if rt in low and base8 else ("nfserve", base)
        if rt == "openvino" and "bf16" in str(results[rt][0].get("ov_precision")) and base16:
            ref_name, ref = "nfserve-bf16", base16
        ratio = f"  ({medians[rt] / ref:.2f}x {ref_name}'s time)" if ref else ""
        first = results[rt][0]
        notes = []
        if "ov_precision" in first:
            notes.append(first["ov_precision"])
        if "top1_agreement" in first:
            notes.append(f"top-1 agreement {first['top1_agreement']:.3f}, max |diff| {first['max_abs_diff']:.3g}")
        notes = f"  [{'; '.join(notes)}]" if notes else ""
        log(f"  {rt:{width}s} {medians[rt]:9.1f} ms  {a.batch / medians[rt] * 1000:8.1f} images/s{ratio}{notes}")
    summary = {"model": a.model, "size": a.size, "batch": a.batch, "threads": a.threads,
               "rounds": a.rounds, "median_ms": medians,
               "ratio_to_nfserve": {rt: round(m / base, 3) for rt, m in medians.items()} if base else None}
    # the fields below appear only with the runtimes that have them (the older choices print none of them)
    if base8 and low:
        summary["ratio_to_nfserve_int8"] = {rt: round(medians[rt] / base8, 3) for rt in low}
    for key in ("top1_agreement", "max_abs_diff", "ov_precision"):
        values = {rt: rs[0][key] for rt, rs in results.items() if rs and key in rs[0] and rt != "onnxruntime"}
        if values:
            summary[key] = values
    if failed:
        summary["failed"] = failed
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
