#!/usr/bin/env python3
"""Write the PyTorch reference for nfserve's BatchNorm estimation shift magnitude (ESM) and AdaBN.

Definition: docs/estimation-shift.md (Huang et al., "Delving into the Estimation Shift of Batch
Normalization in a Network", CVPR 2022). For a BatchNorm with running statistics (mu_hat, sigma2_hat) and
the statistics (mu, sigma2) its input really has in inference mode over a dataset, per channel:
    esm_mean = || mu_hat - mu ||_2,   esm_var = || sigma2_hat - sigma2 ||_2     (l2 over channels, float64)

Usage:
    python tools/reference/make_esm_fixtures.py [--images 2000] [--batch 64]
Pinned versions: tools/reference/requirements.txt (torch 2.15.0, timm 1.0.31). CPU, float32, 1 thread.
No random numbers are drawn anywhere (no seeds): the inputs are the dataset's images in file order.

Output -> Tests/Fixtures/esm/fashion_mnist_test.json
  Models: checkpoints/fmnist-resnet-bn (timm resnet26, every norm a BatchNorm2d) and
    checkpoints/fmnist-resnet-xbn (tools/train/xbn.py create_xbn_model, XBNBlock p2 with 8 groups: the stem's
    bn1 and every block's bn2 are GroupNorm); weights widened to float32, strict load, eval().
  Inputs: the FIRST 2000 images of the Fashion-MNIST test set (Debian dataset-fashion-mnist,
    t10k-images-idx3-ubyte.gz, labels from t10k-labels-idx1-ubyte.gz) through timm's eval transform for the
    checkpoint's pretrained_cfg (resolve_data_config + create_transform on PIL 'L' images; checked equal to
    (x/255 - 0.286) / 0.353), run in file order in batches of 64 (the last one 16), float32,
    torch.inference_mode(); every BN uses its running statistics, so the batch size changes nothing.
  Measured statistics: a forward PRE-hook on every nn.BatchNorm2d and nn.GroupNorm (the model holds no other
    norm module; checked) takes its float32 input x [N, C, H, W] and, in float64 (x.double()), per channel over
    (n, h, w): the batch's count, mean and centred sum of squares M2 = sum((x - mean_b)^2); batches are merged
    with Chan et al.'s parallel formula (n = na + nb, delta = mb - ma, mean = ma + delta * nb / n,
    M2 = M2a + M2b + delta^2 * na * nb / n). mu = mean, sigma2 = M2 / n (biased / population). The plain
    count / sum / sum-of-squares formula (sumsq/n - mu^2) is accumulated too and must agree (|diff| < 1e-9
    relative to the variance; checked).
  Network order: the order in which the forward pass first reaches each norm module's input, recorded in the
    hooks on the first batch (checked equal on every batch). For timm's Bottleneck ResNet it is bn1 (stem),
    then per block bn1, bn2, bn3, then downsample.1 (timm applies the shortcut's downsample after bn3; checked
    against that expectation).
  layers: {index (0-based position over all norm layers, GroupNorm included), name (module name = state_dict
    prefix), kind "batchnorm" | "groupnorm", channels, esm_mean, esm_var} in network order; GroupNorm has
    esm_mean / esm_var null (batch-free: nothing estimated). top1: accuracy of argmax(logits) on the 2000 images.
  recalibrated (AdaBN, layer by layer, a copy of each model): for each BatchNorm in network order, measure mu and
    biased sigma2 of its input over the same 2000 images (same merge) with all EARLIER BatchNorms already
    replaced by their measured statistics, then set this layer's running_mean / running_var to them
    (float32(mu), float32(sigma2)). Afterwards: ESM measured again over the same images (only the float32
    rounding of the stored statistics remains, ~1e-7..1e-6) and top-1 before / after.

Running time on this 2-core machine: the printed total (well under a minute per model).
Run with the reference environment's python (tools/reference/make-env.sh makes it).
"""
import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn as nn

import timm

from fmnist_checkpoints import REPO, eval_input, fmnist_test, load_model_dir  # noqa: E402  (this folder)

OUT_PATH = REPO / "Tests" / "Fixtures" / "esm" / "fashion_mnist_test.json"
MODELS = ["checkpoints/fmnist-resnet-bn", "checkpoints/fmnist-resnet-xbn"]
NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm)

# ----------------------------------------------------------------------------------------- Fashion-MNIST input


def norm_modules(model):
    """{name: module} of every nn.BatchNorm2d / nn.GroupNorm; asserts there is no other norm module."""
    mods = {}
    for name, m in model.named_modules():
        if isinstance(m, NORM_TYPES):
            assert type(m) in NORM_TYPES, f"{name}: {type(m).__name__} (a subclass) not handled"
            mods[name] = m
        elif "norm" in type(m).__name__.lower() or isinstance(m, nn.modules.batchnorm._NormBase):
            raise TypeError(f"{name}: unexpected norm module {type(m).__name__}")
    return mods


def expected_resnet_order(model):
    """timm ResNet: bn1, then per block bn1, bn2, (bn3), downsample.1 if any."""
    names = ["bn1"]
    for s in range(1, 5):
        for b, block in enumerate(getattr(model, f"layer{s}")):
            p = f"layer{s}.{b}"
            names += [f"{p}.{n}" for n in ("bn1", "bn2", "bn3") if hasattr(block, n)]
            if block.downsample is not None:
                names.append(f"{p}.downsample.1")
    return names


# ----------------------------------------------------------------------------------------- statistics


class ChannelMoments:
    """Per-channel count, mean and M2 in float64, batches merged with Chan et al.'s formula; plus the plain
    sum / sum of squares for a cross-check."""

    def __init__(self):
        self.n = 0
        self.mean = None
        self.m2 = None
        self.s1 = None
        self.s2 = None

    def add(self, x: torch.Tensor):
        assert x.dim() == 4, x.shape
        xd = x.detach().double()
        nb = xd.shape[0] * xd.shape[2] * xd.shape[3]
        mb = xd.mean(dim=(0, 2, 3))
        m2b = (xd - mb.view(1, -1, 1, 1)).square().sum(dim=(0, 2, 3))
        s1b, s2b = xd.sum(dim=(0, 2, 3)), xd.square().sum(dim=(0, 2, 3))
        if self.n == 0:
            self.n, self.mean, self.m2, self.s1, self.s2 = nb, mb, m2b, s1b, s2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta.square() * (self.n * nb / n)
        self.s1, self.s2, self.n = self.s1 + s1b, self.s2 + s2b, n

    def result(self):
        """(mu, biased sigma2), float64 [C]; checks the plain sums agree."""
        mu, var = self.mean, self.m2 / self.n
        mu_p = self.s1 / self.n
        var_p = self.s2 / self.n - mu_p.square()
        assert torch.allclose(mu, mu_p, rtol=0, atol=1e-9 * (1 + float(var.max()))), "mean: merge != sum"
        assert float((var - var_p).abs().max()) <= 1e-9 * (1 + float(var.max())), "variance: merge != sumsq"
        return mu, var


def measure(model, x, labels, batch, only=None):
    """One inference pass over x in batches. Returns (order, {name: (mu, sigma2)}, top1). `only`: measure
    just these module names (the order is still recorded for all norm modules)."""
    mods = norm_modules(model)
    order, moments, first = [], {}, [True]
    seen_this_batch = []

    def hook(name):
        def fn(m, inp):
            if first[0]:
                order.append(name)
            seen_this_batch.append(name)
            if only is None or name in only:
                moments.setdefault(name, ChannelMoments()).add(inp[0])
        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in mods.items()]
    correct = 0
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                seen_this_batch.clear()
                logits = model(x[i:i + batch])
                assert seen_this_batch == order, "norm modules reached in a different order"
                first[0] = False
                correct += int((logits.argmax(dim=1) == labels[i:i + batch]).sum())
    finally:
        for h in handles:
            h.remove()
    assert sorted(order) == sorted(mods), "some norm module was never reached (or reached twice)"
    return order, {n: mo.result() for n, mo in moments.items()}, correct / len(x)


def esm_layers(model, order, stats):
    """The per-layer entries in network order."""
    mods = norm_modules(model)
    layers = []
    for index, name in enumerate(order):
        m = mods[name]
        if isinstance(m, nn.BatchNorm2d):
            mu, var = stats[name]
            rm, rv = m.running_mean.double(), m.running_var.double()
            layers.append({"index": index, "name": name, "kind": "batchnorm", "channels": m.num_features,
                           "esm_mean": float(torch.linalg.vector_norm(rm - mu)),
                           "esm_var": float(torch.linalg.vector_norm(rv - var))})
        else:
            layers.append({"index": index, "name": name, "kind": "groupnorm", "channels": m.num_channels,
                           "esm_mean": None, "esm_var": None})
    return layers


def adabn(model, x, labels, batch, order):
    """Layer-by-layer AdaBN on a copy of the model; returns the copy."""
    model = copy.deepcopy(model)
    mods = norm_modules(model)
    for name in order:
        m = mods[name]
        if not isinstance(m, nn.BatchNorm2d):
            continue
        _, stats, _ = measure(model, x, labels, batch, only={name})
        mu, var = stats[name]
        with torch.no_grad():
            m.running_mean.copy_(mu.float())
            m.running_var.copy_(var.float())
    return model


# ----------------------------------------------------------------------------------------- main


def fmt(v):
    return "      -" if v is None else f"{v:.4g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000, help="first N test images (default 2000)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=OUT_PATH)
    ap.add_argument("--time", metavar="MODEL_DIR",
                    help="time one estimation-shift pass instead (tools/bench/esm_timing.sh): the model loaded, the "
                         "first --images test images read and preprocessed, every norm input's moments taken, with "
                         "--threads threads; prints {\"seconds\": ...} and writes no fixture")
    ap.add_argument("--threads", type=int, default=1)
    opts = ap.parse_args()
    torch.set_num_threads(opts.threads)
    if opts.time:
        t0 = time.perf_counter()
        model, cfg = load_model_dir(REPO / opts.time)
        imgs, labs = fmnist_test(opts.images)
        x = eval_input(cfg["pretrained_cfg"], imgs)
        measure(model, x, torch.from_numpy(labs), opts.batch)
        print(json.dumps({"model": opts.time, "images": opts.images, "threads": opts.threads,
                          "seconds": round(time.perf_counter() - t0, 3)}))
        return
    t_start = time.time()
    imgs, labs = fmnist_test(opts.images)
    labels = torch.from_numpy(labs)
    models, recal = {}, {}
    for rel in MODELS:
        t0 = time.time()
        key = Path(rel).name
        model, cfg = load_model_dir(REPO / rel)
        x = eval_input(cfg["pretrained_cfg"], imgs)
        order, stats, top1 = measure(model, x, labels, opts.batch)
        assert order == expected_resnet_order(model), f"{key}: network order {order}"
        layers = esm_layers(model, order, stats)
        models[key] = {"model_dir": rel, "layers": layers, "top1": top1}

        fixed = adabn(model, x, labels, opts.batch, order)
        order2, stats2, top1_after = measure(fixed, x, labels, opts.batch)
        assert order2 == order
        layers2 = [{k: v for k, v in layer.items() if k != "channels"} for layer in esm_layers(fixed, order, stats2)]
        recal[key] = {"top1_before": top1, "top1_after": top1_after, "layers": layers2}

        print(f"{key}: top1 {top1:.4f} -> {top1_after:.4f} after AdaBN  ({time.time() - t0:.1f} s)")
        print(f"  {'idx':>3s} {'name':24s} {'kind':9s} {'C':>4s} {'esm_mean':>10s} {'esm_var':>10s}"
              f" {'mean(AdaBN)':>11s} {'var(AdaBN)':>10s}")
        for a, b in zip(layers, layers2):
            print(f"  {a['index']:3d} {a['name']:24s} {a['kind']:9s} {a['channels']:4d} {fmt(a['esm_mean']):>10s} "
                  f"{fmt(a['esm_var']):>10s} {fmt(b['esm_mean']):>11s} {fmt(b['esm_var']):>10s}", flush=True)
    doc = {
        "note": (f"Generated by tools/reference/make_esm_fixtures.py with torch {torch.__version__}, "
                 f"timm {timm.__version__}, CPU float32, eval() (BN on running statistics), inference_mode, "
                 f"batches of {opts.batch}. Input: the first {opts.images} Fashion-MNIST test images (t10k, file "
                 "order) through timm's eval transform (x/255 - 0.286) / 0.353. Statistics of each norm module's "
                 "input (forward pre-hook) per channel over (n, h, w) in float64: per-batch mean and centred M2 "
                 "merged with Chan et al.'s parallel formula; sigma2 biased (M2 / count). esm_mean = "
                 "||running_mean - mu||_2, esm_var = ||running_var - sigma2||_2 over channels (float64); GroupNorm "
                 "null. Layers in network order (first arrival at each norm module's input); index over all norm "
                 "layers. top1 on the same images. recalibrated: layer-by-layer AdaBN (each BN in network order "
                 "measured with the earlier BNs already replaced, stored as float32), then ESM and top1 again "
                 "(estimation-shift.md)."),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "dataset": "fashion-mnist-test",
        "images": opts.images,
        "batch": opts.batch,
        "models": models,
        "recalibrated": recal,
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {opts.out}  ({time.time() - t_start:.1f} s)")


if __name__ == "__main__":
    main()
