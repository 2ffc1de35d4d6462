#!/usr/bin/env python3
"""Check a folder written by `nfserve recalibrate` independently, with PyTorch and timm.

What it checks (exit status 0 only if all of them hold; 1 if a check fails, 2 on bad arguments):
  1. Files: every file of the original folder other than model.safetensors (config.json, README.md, ...)
     is in the recalibrated folder with the same bytes.
  2. Tensors: both model.safetensors files hold the same tensor names, and every tensor has the same dtype,
     shape and bytes, except the running_mean / running_var of the model's nn.BatchNorm2d layers (and
     num_batches_tracked, if present), which must keep their shape and be F32. GroupNorm layers (XBNBlock
     models) have no running statistics and so must be unchanged like every other tensor.
  3. Loading: both folders load in timm unchanged (tools/reference/fmnist_checkpoints.py load_model_dir:
     timm.create_model from config.json, XBNBlock norm swap through tools/train/xbn.py, strict
     load_state_dict), and the recalibrated model's running statistics are the file's values.
  4. Estimation shift (ESM, docs/estimation-shift.md) on the first --count Fashion-MNIST test images
     (Debian's t10k IDX files in file order, which nfserve calls `fashion-mnist-test`; timm's eval
     transform), model in eval mode, float32 forward, the input of every BatchNorm taken by a forward
     pre-hook, per channel float64 mean and biased variance (the measuring code of make_esm_fixtures.py):
         esm_mean = ||running_mean - mu||_2,   esm_var = ||running_var - sigma2||_2   (over channels)
     for the original and the recalibrated folder. Passes if every BatchNorm layer of the recalibrated
     folder has esm_mean and esm_var below --tol (1e-4), and the original's largest esm_mean / esm_var
     is above --min-before (1e-2), i.e. there was a shift to remove.
  It prints the largest ESM before and after (and every layer with -v) and the top-1 accuracy of both on
  the same images.

Usage (the reference environment: tools/reference/make-env.sh, pinned in requirements.txt):
    ./.build/release/nfserve recalibrate --model fmnist-resnet-bn --dataset fashion-mnist-test \\
        --limit 2000 --out /tmp/recal/fmnist-resnet-bn-recal
    ../.venv-ref/bin/python tools/reference/check_recalibrated.py \\
        --original checkpoints/fmnist-resnet-bn --recalibrated /tmp/recal/fmnist-resnet-bn-recal --count 2000 [-v]
--count must be the number of images the folder was recalibrated on (nfserve's --limit): on any other
set of images the ESM after is a sampling difference, not a rounding one, and the check fails.

This is a manual, offline cross-check. It is never a runtime or CI dependency of nfserve: PyTorch is not
available in CI, and nothing in the Swift package or scripts/ runs it. CPU only, 1 thread by default.
"""
import argparse
import json
import struct
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

import timm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fmnist_checkpoints import eval_input, fmnist_test, load_model_dir  # noqa: E402  (this folder)
from make_esm_fixtures import esm_layers, measure, norm_modules  # noqa: E402

STAT_KEYS = ("running_mean", "running_var")


class CheckFailed(Exception):
    pass


def read_safetensors(path: Path):
    """(metadata, {name: (dtype, shape, bytes)}) read from the file itself (no torch conversion)."""
    data = path.read_bytes()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        tensors[name] = (info["dtype"], tuple(info["shape"]), body[start:end])
    return meta, tensors


def compare_files(orig: Path, recal: Path, errors):
    """Check 1: every other file of the folder copied byte for byte. Returns the names compared."""
    names = []
    for item in sorted(orig.iterdir()):
        if item.name == "model.safetensors" or item.name.startswith(".") or item.is_dir():
            continue
        names.append(item.name)
        other = recal / item.name
        if not other.is_file():
            errors.append(f"file {item.name}: missing in the recalibrated folder")
        elif other.read_bytes() != item.read_bytes():
            errors.append(f"file {item.name}: differs from the original")
    return names


def compare_tensors(orig: Path, recal: Path, bn_names, errors):
    """Check 2. Returns (recalibrated metadata, #identical, #statistics tensors that changed, #unchanged)."""
    _, a = read_safetensors(orig / "model.safetensors")
    meta_b, b = read_safetensors(recal / "model.safetensors")
    if set(a) != set(b):
        errors.append(f"tensor names differ: only original {sorted(set(a) - set(b))}, "
                      f"only recalibrated {sorted(set(b) - set(a))}")
    identical = changed = same_stats = 0
    for name in sorted(set(a) & set(b)):
        (da, sa, ba), (db, sb, bb) = a[name], b[name]
        module, _, key = name.rpartition(".")
        if module in bn_names and key in STAT_KEYS:
            if sa != sb:
                errors.append(f"{name}: shape {sa} -> {sb}")
            if db != "F32":
                errors.append(f"{name}: dtype {db}, expected F32")
            if (da, ba) == (db, bb):
                same_stats += 1
            else:
                changed += 1
        elif module in bn_names and key == "num_batches_tracked":
            pass  # allowed to change; nothing reads it in eval mode
        elif (da, sa, ba) != (db, sb, bb):
            errors.append(f"{name}: not byte-identical (dtype {da} -> {db}, shape {sa} -> {sb})")
        else:
            identical += 1
    for module in sorted(bn_names):
        for key in STAT_KEYS:
            if f"{module}.{key}" not in b:
                errors.append(f"{module}.{key}: a BatchNorm statistic missing in the recalibrated file")
    return meta_b, identical, changed, same_stats


def stats_match_file(model, recal: Path, bn_names, errors):
    """Check 3 (second half): the loaded running statistics are the file's F32 values, bit for bit."""
    _, t = read_safetensors(recal / "model.safetensors")
    mods = dict(model.named_modules())
    for name in sorted(bn_names):
        for key in STAT_KEYS:
            dtype, shape, raw = t[f"{name}.{key}"]
            if dtype != "F32":
                continue  # reported by compare_tensors
            want = torch.frombuffer(bytearray(raw), dtype=torch.float32).view(shape)
            if not torch.equal(getattr(mods[name], key), want):
                errors.append(f"{name}.{key}: the loaded model does not hold the file's values")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--original", type=Path, required=True, help="the checkpoint folder before recalibration")
    ap.add_argument("--recalibrated", type=Path, required=True, help="the folder nfserve recalibrate wrote")
    ap.add_argument("--count", type=int, required=True,
                    help="first N Fashion-MNIST test images (the --limit the folder was recalibrated with)")
    ap.add_argument("--tol", type=float, default=1e-4, help="every layer's ESM after must be below this (1e-4)")
    ap.add_argument("--min-before", type=float, default=1e-2,
                    help="the original's largest ESM must be above this (1e-2)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every layer")
    opts = ap.parse_args()
    if opts.count <= 0:
        ap.error("--count must be positive")
    torch.set_num_threads(opts.threads)
    t0 = time.time()
    errors = []

    # 3. both folders through timm, strict (load_state_dict raises on a missing / unexpected key or shape)
    model_a, cfg_a = load_model_dir(opts.original)
    model_b, cfg_b = load_model_dir(opts.recalibrated)
    mods = norm_modules(model_a)
    bn_names = {n for n, m in mods.items() if isinstance(m, nn.BatchNorm2d)}
    gn_names = {n for n, m in mods.items() if isinstance(m, nn.GroupNorm)}
    if not bn_names:
        errors.append("the original model has no BatchNorm layer")
    stats_match_file(model_b, opts.recalibrated, bn_names, errors)

    # 1. + 2.
    files = compare_files(opts.original, opts.recalibrated, errors)
    meta, identical, changed, same_stats = compare_tensors(opts.original, opts.recalibrated, bn_names, errors)
    print(f"torch {torch.__version__}, timm {timm.__version__}")
    print(f"original     {opts.original}  ({cfg_a['architecture']}, model_args {json.dumps(cfg_a.get('model_args', {}))})")
    print(f"recalibrated {opts.recalibrated}  (metadata: " +
          ", ".join(f"{k}={v!r}" for k, v in sorted(meta.items()) if k != "format") + ")")
    print(f"strict timm load: both OK; norm layers: {len(bn_names)} BatchNorm2d, {len(gn_names)} GroupNorm")
    print(f"files copied unchanged: {', '.join(files) or '(none)'}")
    print(f"tensors byte-identical: {identical}; BatchNorm running_mean/var replaced: {changed} changed, "
          f"{same_stats} equal to the original")

    # 4. ESM on the same images, both models
    imgs, labs = fmnist_test(opts.count)
    labels = torch.from_numpy(labs)
    x = eval_input(cfg_a["pretrained_cfg"], imgs)
    order_a, stats_a, top1_a = measure(model_a, x, labels, opts.batch)
    order_b, stats_b, top1_b = measure(model_b, x, labels, opts.batch)
    if order_a != order_b:
        errors.append("the two models reach their norm layers in a different order")
    before = {l["name"]: l for l in esm_layers(model_a, order_a, stats_a)}
    after = {l["name"]: l for l in esm_layers(model_b, order_b, stats_b)}
    bn_order = [n for n in order_a if n in bn_names]

    if opts.verbose:
        print(f"\n  {'idx':>3s} {'layer':22s} {'C':>4s} {'mean before':>11s} {'var before':>11s} "
              f"{'mean after':>11s} {'var after':>11s}")
        for name in order_a:
            a, b = before[name], after[name]
            if a["kind"] != "batchnorm":
                print(f"  {a['index']:3d} {name:22s} {a['channels']:4d}   (GroupNorm: no running statistics)")
                continue
            flag = "" if max(b["esm_mean"], b["esm_var"]) < opts.tol else "  <-- above tol"
            print(f"  {a['index']:3d} {name:22s} {a['channels']:4d} {a['esm_mean']:11.3e} {a['esm_var']:11.3e} "
                  f"{b['esm_mean']:11.3e} {b['esm_var']:11.3e}{flag}")

    def worst(table, key):
        name = max(bn_order, key=lambda n: table[n][key])
        return table[name][key], name

    print(f"\nESM over {len(bn_order)} BatchNorm layers on the first {opts.count} Fashion-MNIST test images "
          f"(fashion-mnist-test), float64 moments, biased variance:")
    print(f"  {'':14s} {'max esm_mean':>12s} {'(layer)':22s} {'max esm_var':>12s} {'(layer)':22s} {'top-1':>7s}")
    for label, table, top1 in (("before", before, top1_a), ("after", after, top1_b)):
        (m, mn), (v, vn) = worst(table, "esm_mean"), worst(table, "esm_var")
        print(f"  {label:14s} {m:12.3e} {mn:22s} {v:12.3e} {vn:22s} {top1:7.4f}")

    over = [n for n in bn_order if not (after[n]["esm_mean"] < opts.tol and after[n]["esm_var"] < opts.tol)]
    if over:
        errors.append(f"{len(over)} of {len(bn_order)} BatchNorm layers have ESM >= {opts.tol:g} after "
                      f"(first: {over[0]} esm_mean {after[over[0]]['esm_mean']:.3e} "
                      f"esm_var {after[over[0]]['esm_var']:.3e})")
    max_before = max(max(before[n]["esm_mean"], before[n]["esm_var"]) for n in bn_order) if bn_order else 0.0
    if not max_before > opts.min_before:
        errors.append(f"the original's largest ESM {max_before:.3e} is not above {opts.min_before:g}: "
                      "nothing to show the recalibration removed")

    print(f"({time.time() - t0:.1f} s)")
    if errors:
        print("\nFAIL:")
        for e in errors:
            print(f"  - {e}")
        return 1
    print(f"\nPASS: every BatchNorm's esm_mean and esm_var below {opts.tol:g} after "
          f"(largest before {max_before:.3e} > {opts.min_before:g}); every other tensor byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
