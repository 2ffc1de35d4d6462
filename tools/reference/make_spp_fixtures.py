#!/usr/bin/env python3
"""Write the PyTorch reference for nfserve's signal propagation plots (SPPs).

Definitions: docs/signal-propagation.md (Brock, De & Smith 2021; DeepMind's `signal_metrics`,
biased variance). For an activation x [N, C, H, W] (float32 in the network), in float64:
    mean_c, var_c (biased) over (n, h, w); avg_sq_channel_mean = mean_c(mean_c^2); avg_channel_var = mean_c(var_c)
computed inside forward hooks / at the site itself, immediately (timm adds the shortcut in place into
the branch's tensor, so no reference is kept for later).

Usage:
    python tools/reference/make_spp_fixtures.py [--only served|designs]
    python tools/reference/make_spp_fixtures.py --time NETWORK [--repeat 3]
Pinned versions: tools/reference/requirements.txt (torch 2.15.0, timm 1.0.31). CPU, float32, 1 thread
(2 threads in --time mode).

Part 1 -> Tests/Fixtures/spp/served_models.json: trained / fixture weights, eval(), inference_mode.
  Models: checkpoints/fmnist-resnet-bn, checkpoints/fmnist-resnet-xbn (tools/train/xbn.py create_xbn_model),
  checkpoints/fmnist-nf-resnet, Tests/Fixtures/parity/resnet18 (BasicBlock) and
  Tests/Fixtures/parity/dm_nfnet_f0 (F16/BF16 weights would be widened to float32; both are F32).
  Inputs:
    "gaussian": nfserve's SplitMix64 + Box-Muller generator (gaussian_input below), [B, C, H, H] with
        H = pretrained_cfg input_size[1]; B 8 / seed 0 for the checkpoints, B 2 / seed 3 for the parity models.
    "dataset" (checkpoints only): the first 8 Fashion-MNIST test images (Debian dataset-fashion-mnist,
        t10k-images-idx3-ubyte.gz), through timm's eval transform for the pretrained_cfg
        (resolve_data_config + create_transform; = x/255 then (x - 0.286) / 0.353 for these 28x28 checkpoints).
  Sites (network order):
    point 0 "stem": timm ResNet: output of model.maxpool; NormFreeNet: output of model.stem (incl. its pool).
    point i: one per residual block, "layer{s}.{b}" (stage s-1) / "stages.{s}.{b}" (stage s).
      block output = skip + branch before any activation after the add:
        timm ResNet: the INPUT of the block's final activation (act3 Bottleneck / act2 BasicBlock),
        forward pre-hook ("post_activation": true: the ReLU after the add is not included);
        NormFreeBlock: the block's output.
      residual_var = avg_channel_var of the branch right before `x += shortcut` / `* alpha`:
        timm ResNet: output of the last of (bn3|bn2, se, drop_path) that exists (for every model here
        bn3 / bn2; the shipped XBN checkpoint is p2, so its bn3 is still a BatchNorm; a p3 model would
        have a GroupNorm there);
        NormFreeBlock: input of drop_path (after conv3 and attn_gain * attn_last, before skipinit_gain
        and alpha; forward pre-hook).
      expected_var (NF models): 1.0 at the stem, then timm's bookkeeping at the block's output
        (reset to 1 after a stage's first block, then += alpha^2 per block); cross-checked against
        each block's beta = 1 / sqrt(expected_var at its input).

Part 2 -> Tests/Fixtures/spp/designs.json: the paper's networks at initialization, plain PyTorch.
  Depths [50, 50, 50, 50], width 4, input torch.randn(4, 3, 64, 64). Seeds 0, 1, 2, 3, 4: for each seed
  torch.manual_seed(seed), build the weights (conv weights drawn with torch.randn in the order: stem, then
  per block: projection (first block of a stage), conv1, conv2, conv3), then x = torch.randn(4, 3, 64, 64).
  Networks: bn_relu_conv, relu_bn_conv (preact_resnet, BN with the batch's own statistics, He init),
  nf_resnet_ws (alpha 0.2, DeepMind scaled WS on every conv, gamma-ReLU), nf_resnet_no_ws (He-init convs,
  plain ReLU). Sites: "stem" = after the max-pool; "stages.{s}.{b}" = out (* alpha) + shortcut;
  residual_var at the output of the branch's last conv (before alpha). Per point: the five per-seed
  values, their mean and population std.
  Plus "nf_resnet50_at_init": timm's nf_resnet50 (1000 classes, 3 channels) at timm's own init under
  torch.manual_seed(seed), every conv3.gain (and any skipinit_gain) set to 1, same seeds and input, sites
  as in Part 1.

Part 3 (--time NETWORK, one of the four design names): torch.set_num_threads(2); per repeat, time one
  whole SPP request (seed-0 build + input + forward + statistics); prints one JSON line
  {"network", "seconds", "median"}. Writes no files.

What the run shows (torch 2.15.0 CPU; means over the 5 seeds; 64 px input, so the stages run at
16x16, 8x8, 4x4 and 2x2; the stem's max-pool of a zero-mean conv output gives every network a large
squared mean at point 0, which the first block's normalization / projection removes or not):
  bn_relu_conv:    residual_var 0.682 on average (0.687, 0.689, 0.684, 0.668 per stage); at the end of
                   stage 0 (stages.0.49) avg_channel_var 35.1, avg_sq_channel_mean 15.9 (linear growth,
                   ~0.68 / ~0.32 per block), back to 1.4 / 0.6 after every stage's first block: as the doc.
  relu_bn_conv:    avg_sq_channel_mean 0.000 through stage 0, <= 0.093 anywhere after the stem (the strided
                   projections leave a little); residual_var 2.000 (1.999-2.002 per stage); variance ~101.7
                   at the end of every stage: as the doc.
  nf_resnet_ws:    var after block k of stage 0 within 5.5% of 1 + k * 0.04 (1.031 after block 0, 2.835
                   after 50 blocks, expected 3.0); squared mean <= 0.114 (0.009 at the end of stage 0);
                   residual_var 0.923, 0.821, 0.613, 0.271 per stage. The later-stage shortfall is the doc's
                   zero-padding effect but much more than "a little" at 64 px: the stage ends are 2.83, 2.58,
                   2.07, 1.16. (One seed at 256 px: residual_var 1.00, 0.98, 0.92, 0.81, stage ends 3.02,
                   2.97, 2.83, 2.55, so it is the small maps.)
  nf_resnet_no_ws: the mean shift: avg_sq_channel_mean 8.3 after the first block, 19.3 at the end of stage 0
                   (15.4, 11.0, 5.3 at the later stage ends), 2.5-5 times the variance (4.0 at the end of
                   stage 0, vs 3.0 expected).
  nf_resnet50_at_init (timm): timm's stem conv carries gamma and DownsampleAvg average-pools the shortcut,
                   so the measured variance is ~3.0-3.2 in stage 0 (expected 1.04-1.12), ~1.2-1.3 in stage 1,
                   ~0.35-0.40 in stage 2 and ~0.09 in stage 3 (each transition divides it by 2.7-4.5: the
                   2x2 average pool of a nearly white signal);
                   squared mean ~0.01 after the stem; residual_var 2.7 in stage 0 and ~1.0 in stage 1.
  (Exact numbers: the summary this script prints.)

Timing (--time, 2 threads, this 2-core machine when idle): ~1.5-2.0 s for bn_relu_conv, relu_bn_conv and
nf_resnet_no_ws, ~2.6-3.2 s for nf_resnet_ws, about 2/3 of it the build (the network has ~300M conv
weights; WS adds a pass over them); medians rise several-fold when other work shares the cores.
Run with the reference environment's python (tools/reference/make-env.sh makes it).
"""
import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import timm
from timm.models.nfnet import NormFreeBlock, NormFreeNet
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from fmnist_checkpoints import REPO, eval_input, fmnist_test, load_model_dir  # noqa: E402  (this folder)

OUT_DIR = REPO / "Tests" / "Fixtures" / "spp"

# ----------------------------------------------------------------------------------------- statistics


def channel_stats(x: torch.Tensor):
    """(avg_sq_channel_mean, avg_channel_var) of an [N, C, H, W] tensor, in float64, biased variance."""
    assert x.dim() == 4, x.shape
    var, mean = torch.var_mean(x.detach().to(torch.float64), dim=(0, 2, 3), correction=0)
    return float((mean * mean).mean()), float(var.mean())


class Recorder:
    """Collects points in network order: point(name, stage, tensor) and residual(tensor) for the
    block whose output comes next."""

    def __init__(self):
        self.points = []
        self._pending_residual = None

    def residual(self, x):
        assert self._pending_residual is None, "two branch ends before one block output"
        self._pending_residual = channel_stats(x)[1]

    def point(self, name, stage, x, is_block):
        sq, var = channel_stats(x)
        res = None
        if is_block:
            assert self._pending_residual is not None, f"{name}: no branch end recorded"
            res, self._pending_residual = self._pending_residual, None
        else:
            assert self._pending_residual is None
        self.points.append({"index": len(self.points), "name": name, "stage": stage,
                            "avg_sq_channel_mean": sq, "avg_channel_var": var, "residual_var": res})


# ----------------------------------------------------------------------------------------- nfserve's gaussian input

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next_uniform(self) -> float:
        return ((self.next() >> 11) + 0.5) / 9007199254740992.0

    def next_normal(self) -> float:
        u1 = self.next_uniform()
        u2 = self.next_uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def gaussian_input(batch, channels, size, seed):
    """nfserve's N(0,1) SPP input: float32(next_normal()) in NCHW row-major order."""
    g = SplitMix64(seed)
    n = batch * channels * size * size
    vals = np.array([g.next_normal() for _ in range(n)], dtype=np.float64).astype(np.float32)
    return torch.from_numpy(vals).reshape(batch, channels, size, size)


# ----------------------------------------------------------------------------------------- Fashion-MNIST input


def dataset_input(pretrained_cfg, count=8):
    """The first `count` test images through timm's eval transform for pretrained_cfg."""
    return eval_input(pretrained_cfg, fmnist_test(count)[0])


def nf_expected_vars(model: NormFreeNet):
    """timm's bookkeeping, recomputed: expected variance at each block's output, in block order;
    asserts each block's beta = 1 / sqrt(expected variance at its input)."""
    out = []
    for stage in model.stages:
        for b, block in enumerate(stage):
            ev_in = out[-1] if out else 1.0
            assert abs(block.beta - 1.0 / math.sqrt(ev_in)) < 1e-12, (block.beta, ev_in)
            ev = 1.0 if b == 0 else ev_in
            out.append(ev + block.alpha ** 2)
    return out


def resnet_branch_end(block):
    """The module whose output is the tensor right before `x += shortcut` in timm's blocks."""
    if isinstance(block, Bottleneck):
        end, act = block.bn3, block.act3
    elif isinstance(block, BasicBlock):
        end, act = block.bn2, block.act2
    else:
        raise TypeError(type(block))
    for later in (block.se, block.drop_path):  # forward order: bn -> se -> drop_path -> += shortcut
        if later is not None:
            end = later
    return end, act


def attach_spp_hooks(model, rec: Recorder):
    """Register the SPP hooks (see the docstring); returns (handles, site list, post_activation)."""
    handles, sites = [], []

    def out_hook(name, stage, is_block):
        return lambda m, inp, out: rec.point(name, stage, out, is_block)

    if isinstance(model, ResNet):
        handles.append(model.maxpool.register_forward_hook(out_hook("stem", None, False)))
        sites.append("stem")
        for s in range(1, 5):
            for b, block in enumerate(getattr(model, f"layer{s}")):
                name = f"layer{s}.{b}"
                end, act = resnet_branch_end(block)
                handles.append(end.register_forward_hook(lambda m, inp, out: rec.residual(out)))
                handles.append(act.register_forward_pre_hook(
                    (lambda n, st: lambda m, inp: rec.point(n, st, inp[0], True))(name, s - 1)))
                sites.append(name)
        return handles, sites, True
    if isinstance(model, NormFreeNet):
        handles.append(model.stem.register_forward_hook(out_hook("stem", None, False)))
        sites.append("stem")
        for s, stage in enumerate(model.stages):
            for b, block in enumerate(stage):
                assert isinstance(block, NormFreeBlock)
                name = f"stages.{s}.{b}"
                handles.append(block.drop_path.register_forward_pre_hook(lambda m, inp: rec.residual(inp[0])))
                handles.append(block.register_forward_hook(out_hook(name, s, True)))
                sites.append(name)
        return handles, sites, False
    raise TypeError(f"no SPP sites for {type(model).__name__}")


def timm_spp(model, x):
    """One SPP of a timm model: list of point dicts (with expected_var for NF models)."""
    rec = Recorder()
    handles, sites, post_act = attach_spp_hooks(model, rec)
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    assert [p["name"] for p in rec.points] == sites, "sites fired out of order"
    if isinstance(model, NormFreeNet):
        evs = [1.0] + nf_expected_vars(model)
        for p, ev in zip(rec.points, evs):
            p["expected_var"] = ev
    return rec.points, post_act


SERVED = [
    # (model_dir, gaussian batch, gaussian seed, with dataset input)
    ("checkpoints/fmnist-resnet-bn", 8, 0, True),
    ("checkpoints/fmnist-resnet-xbn", 8, 0, True),
    ("checkpoints/fmnist-nf-resnet", 8, 0, True),
    ("Tests/Fixtures/parity/resnet18", 2, 3, False),
    ("Tests/Fixtures/parity/dm_nfnet_f0", 2, 3, False),
]


def make_served():
    cases = []
    for rel, batch, seed, with_dataset in SERVED:
        model, cfg = load_model_dir(REPO / rel)
        pcfg = cfg["pretrained_cfg"]
        chans, size = pcfg["input_size"][0], pcfg["input_size"][1]
        inputs = [(f"{Path(rel).name}/gaussian", {"source": "gaussian", "batch": batch, "size": size, "seed": seed},
                   gaussian_input(batch, chans, size, seed))]
        if with_dataset:
            inputs.append((f"{Path(rel).name}/dataset",
                           {"source": "dataset", "dataset": "fashion-mnist-test", "batch": 8},
                           dataset_input(pcfg, 8)))
        for case_name, input_desc, x in inputs:
            points, post_act = timm_spp(model, x)
            cases.append({"case": case_name, "model_dir": rel, "architecture": cfg["architecture"],
                          "input": input_desc, "post_activation": post_act, "points": points})
            last = points[-1]
            print(f"{case_name:32s} {len(points):3d} points  last {last['name']}: "
                  f"sq_mean {last['avg_sq_channel_mean']:.4g} var {last['avg_channel_var']:.4g} "
                  f"res {last['residual_var']:.4g}", flush=True)
    return {
        "note": ("Generated by tools/reference/make_spp_fixtures.py (--only served) with "
                 f"torch {torch.__version__}, timm {timm.__version__}, CPU float32, eval(), inference_mode. "
                 "Statistics in float64, biased variance (signal-propagation.md). Sites: stem = model.maxpool "
                 "output (ResNet) / model.stem output (NormFreeNet); block output = input of the block's final "
                 "activation (ResNet, post_activation true: the sum before the ReLU) / NormFreeBlock output; "
                 "residual_var = output of bn3/bn2 (ResNet, the tensor before `x += shortcut`) / input of "
                 "drop_path (NormFreeBlock: after conv3 and SE * attn_gain, before skipinit_gain and alpha). "
                 "expected_var: timm's beta bookkeeping at the block output (1 at the stem). gaussian input: "
                 "nfserve's SplitMix64 Box-Muller generator, NCHW order; dataset input: first 8 Fashion-MNIST "
                 "test images through timm's eval transform."),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cases": cases,
    }


# ----------------------------------------------------------------------------------------- Part 2: designs

DEPTHS = [50, 50, 50, 50]
WIDTH = 4
BATCH, SIZE = 4, 64
SEEDS = [0, 1, 2, 3, 4]
ALPHA = 0.2
GAMMA_RELU = 1.7139588594436646
DESIGNS = {
    "bn_relu_conv": {"family": "preact_resnet", "order": "bn_relu_conv"},
    "relu_bn_conv": {"family": "preact_resnet", "order": "relu_bn_conv"},
    "nf_resnet_ws": {"family": "nf_resnet", "alpha": ALPHA, "weight_standardization": True, "activation": "relu"},
    "nf_resnet_no_ws": {"family": "nf_resnet", "alpha": ALPHA, "weight_standardization": False, "activation": "relu"},
}


# In-place arithmetic below: the [50, 50, 50, 50] x width-4 network has ~300M conv weights (1.2 GB), so
# temporaries would dominate the build time. Same operations in the same order as the out-of-place formulas.
def he_weight(cout, cin, k):
    """He init: w ~ N(0, 2 / fan_in)."""
    return torch.randn(cout, cin, k, k).mul_(math.sqrt(2.0 / (cin * k * k)))


def ws_weight(cout, cin, k, gain=1.0):
    """DeepMind's scaled WS of w ~ N(0, 1/fan_in): gain * (w - mean) / sqrt(max(var * fan_in, 1e-4))."""
    fan_in = cin * k * k
    w = torch.randn(cout, cin, k, k).mul_(math.sqrt(1.0 / fan_in))
    var, mean = torch.var_mean(w, dim=(1, 2, 3), keepdim=True, correction=0)
    return w.sub_(mean).mul_(gain).mul_(torch.rsqrt(torch.clamp(var * fan_in, min=1e-4)))


def build_design(arch, depths=DEPTHS, width=WIDTH):
    """Weights for one of the paper's networks (seed the global RNG first). WS is applied once at build
    (the weights are constant), which equals DeepMind's per-call standardization."""
    nf = arch["family"] == "nf_resnet"
    conv = ws_weight if nf and arch["weight_standardization"] else he_weight
    net = {"arch": arch, "stem": conv(16 * width, 3, 7), "blocks": []}
    cin = 16 * width
    expected_var = 1.0
    for s, depth in enumerate(depths):
        cout = (64, 128, 256, 512)[s] * width
        mid = cout // 4
        for b in range(depth):
            blk = {"name": f"stages.{s}.{b}", "stage": s, "stride": (1 if s == 0 else 2) if b == 0 else 1}
            blk["proj"] = conv(cout, cin, 1) if b == 0 else None
            blk["w1"], blk["w2"], blk["w3"] = conv(mid, cin, 1), conv(mid, mid, 3), conv(cout, mid, 1)
            if nf:
                blk["beta"] = 1.0 / math.sqrt(expected_var)
                if b == 0:
                    expected_var = 1.0
                expected_var += arch["alpha"] ** 2
                blk["expected_var"] = expected_var
            net["blocks"].append(blk)
            cin = cout
    return net


def _bn(t):
    return F.batch_norm(t, None, None, training=True, eps=1e-5)


def run_preact(net, x, rec: Recorder):
    pre = (lambda t: F.relu(_bn(t))) if net["arch"]["order"] == "bn_relu_conv" else (lambda t: _bn(F.relu(t)))
    x = F.max_pool2d(F.conv2d(x, net["stem"], stride=2, padding=3), 3, stride=2, padding=1)
    rec.point("stem", None, x, False)
    for blk in net["blocks"]:
        out = pre(x)
        shortcut = F.conv2d(out, blk["proj"], stride=blk["stride"]) if blk["proj"] is not None else x
        out = F.conv2d(out, blk["w1"])
        out = F.conv2d(pre(out), blk["w2"], stride=blk["stride"], padding=1)
        out = F.conv2d(pre(out), blk["w3"])
        rec.residual(out)
        x = out + shortcut
        rec.point(blk["name"], blk["stage"], x, True)


def run_nf(net, x, rec: Recorder):
    gamma = GAMMA_RELU if net["arch"]["weight_standardization"] else 1.0
    alpha = net["arch"]["alpha"]

    def act(t):
        return F.relu(t) * gamma

    x = F.max_pool2d(F.conv2d(x, net["stem"], stride=2, padding=3), 3, stride=2, padding=1)
    rec.point("stem", None, x, False)
    for blk in net["blocks"]:
        out = act(x) * blk["beta"]
        shortcut = F.conv2d(out, blk["proj"], stride=blk["stride"]) if blk["proj"] is not None else x
        out = F.conv2d(out, blk["w1"])
        out = F.conv2d(act(out), blk["w2"], stride=blk["stride"], padding=1)
        out = F.conv2d(act(out), blk["w3"])
        rec.residual(out)
        x = out * alpha + shortcut
        rec.point(blk["name"], blk["stage"], x, True)


def design_spp(name, seed, depths=DEPTHS, width=WIDTH):
    """One SPP request: seed, build, input, forward with statistics."""
    arch = DESIGNS[name]
    torch.manual_seed(seed)
    net = build_design(arch, depths, width)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    rec = Recorder()
    with torch.inference_mode():
        (run_nf if arch["family"] == "nf_resnet" else run_preact)(net, x, rec)
    if arch["family"] == "nf_resnet":
        evs = [1.0] + [blk["expected_var"] for blk in net["blocks"]]
        for p, ev in zip(rec.points, evs):
            p["expected_var"] = ev
    return rec.points


def nf_resnet50_spp(seed):
    torch.manual_seed(seed)
    model = timm.create_model("nf_resnet50", pretrained=False, num_classes=1000, in_chans=3)
    set_to_one = []
    with torch.no_grad():
        for mname, m in model.named_modules():
            if isinstance(m, NormFreeBlock):
                m.conv3.gain.fill_(1.0)
                set_to_one.append(f"{mname}.conv3.gain")
                if m.skipinit_gain is not None:
                    m.skipinit_gain.fill_(1.0)
                    set_to_one.append(f"{mname}.skipinit_gain")
    model.eval()
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    points, _ = timm_spp(model, x)
    return points, set_to_one


def aggregate(per_seed):
    """per_seed: list over seeds of point lists -> points with {values, mean, std} per statistic."""
    out = []
    for pts in zip(*per_seed):
        p0 = pts[0]
        assert all(p["name"] == p0["name"] for p in pts)
        q = {"index": p0["index"], "name": p0["name"], "stage": p0["stage"]}
        for key in ("avg_sq_channel_mean", "avg_channel_var", "residual_var"):
            if p0[key] is None:
                q[key] = None
                continue
            vals = [p[key] for p in pts]
            q[key] = {"values": vals, "mean": statistics.fmean(vals), "std": statistics.pstdev(vals)}
        if "expected_var" in p0:
            assert all(p["expected_var"] == p0["expected_var"] for p in pts)
            q["expected_var"] = p0["expected_var"]
        out.append(q)
    return out


def make_designs():
    networks = {}
    for name, arch in DESIGNS.items():
        t0 = time.time()
        per_seed = [design_spp(name, seed) for seed in SEEDS]
        networks[name] = {"architecture": dict(arch, depths=DEPTHS, width=WIDTH), "points": aggregate(per_seed)}
        print(f"{name:16s} {len(per_seed[0])} points x {len(SEEDS)} seeds  {time.time() - t0:.1f} s", flush=True)
    t0 = time.time()
    runs = [nf_resnet50_spp(seed) for seed in SEEDS]
    nf50 = {"model": "nf_resnet50", "at_init": True, "num_classes": 1000, "in_chans": 3,
            "note": ("timm's registered nf_resnet50 at timm's own init (torch.manual_seed(seed) before "
                     "timm.create_model), then every conv3.gain set to 1 (timm zero-inits them; nf_resnet50 has "
                     "no skipinit_gain); eval(), inference_mode; input torch.randn(4, 3, 64, 64) drawn after the "
                     "build; sites as served_models.json (stem output incl. pool, block outputs, residual_var "
                     "at drop_path's input)."),
            "gains_set_to_one": runs[0][1],
            "points": aggregate([r[0] for r in runs])}
    print(f"{'nf_resnet50':16s} {len(runs[0][0])} points x {len(SEEDS)} seeds  {time.time() - t0:.1f} s", flush=True)
    return {
        "note": ("Generated by tools/reference/make_spp_fixtures.py (--only designs) with "
                 f"torch {torch.__version__}, timm {timm.__version__}, CPU float32. The networks of "
                 "signal-propagation.md 'Networks at initialization' in plain PyTorch. Per seed: "
                 "torch.manual_seed(seed); conv weights drawn with torch.randn in the order stem, then per block "
                 "projection (stage's first block), conv1, conv2, conv3; then x = torch.randn(batch, 3, size, size). "
                 "Preact: BN with the batch's own statistics (biased, eps 1e-5, no affine), He init N(0, 2/fan_in). "
                 "NF: alpha 0.2, beta = 1/sqrt(expected_var); WS: DeepMind's w_hat = (w - mean) / "
                 "sqrt(max(var * fan_in, 1e-4)), w ~ N(0, 1/fan_in), gain 1, bias 0, act = relu * "
                 "1.7139588594436646; no WS: He init, plain relu. Sites: stem after the max-pool; block output = "
                 "out (* alpha) + shortcut; residual_var at the branch's last conv output (before alpha). "
                 "Statistics in float64, biased variance; mean / std (population) over the seeds."),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "config": {"depths": DEPTHS, "width": WIDTH, "batch": BATCH, "size": SIZE, "seeds": SEEDS},
        "networks": networks,
        "nf_resnet50_at_init": nf50,
    }


def summarize_designs(doc):
    """Print the checks of signal-propagation.md's observations."""
    def m(p, key):
        v = p[key]
        return None if v is None else v["mean"]

    print("\nsummary (means over seeds):")
    for name, net in doc["networks"].items():
        pts = net["points"]
        by_name = {p["name"]: p for p in pts}
        ends = [by_name[f"stages.{s}.{d - 1}"] for s, d in enumerate(DEPTHS)]
        res = [m(p, "residual_var") for p in pts[1:]]
        res_stage = [statistics.fmean(m(p, "residual_var") for p in pts[1:] if p["stage"] == s) for s in range(4)]
        print(f"  {name}: stem var {m(pts[0], 'avg_channel_var'):.3f} sq_mean {m(pts[0], 'avg_sq_channel_mean'):.3f}; "
              f"residual_var avg {statistics.fmean(res):.3f} (per stage "
              + ", ".join(f"{r:.3f}" for r in res_stage) + ")")
        print("    end of stage: " + "; ".join(
            f"{p['name']} var {m(p, 'avg_channel_var'):.3f} sq_mean {m(p, 'avg_sq_channel_mean'):.3f}"
            + (f" (expected {p['expected_var']:.2f})" if "expected_var" in p else "") for p in ends))
        print(f"    blocks: max sq_mean {max(m(p, 'avg_sq_channel_mean') for p in pts[1:]):.3f}")
        if "expected_var" in pts[1]:
            s0 = [p for p in pts if p["stage"] == 0]
            dev = max(abs(m(p, "avg_channel_var") / p["expected_var"] - 1) for p in s0)
            print(f"    stage 0: max |var / (1 + k*alpha^2) - 1| = {dev:.4f}")
    pts = doc["nf_resnet50_at_init"]["points"]
    print("  nf_resnet50_at_init: " + "; ".join(
        f"{p['name']} var {m(p, 'avg_channel_var'):.3f} (exp {p['expected_var']:.2f}) "
        f"sq {m(p, 'avg_sq_channel_mean'):.3f} res {m(p, 'residual_var') if p['residual_var'] else float('nan'):.3f}"
        for p in pts))


# ----------------------------------------------------------------------------------------- Part 3: timing


def time_design(name, repeat):
    torch.set_num_threads(2)
    secs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        points = design_spp(name, 0)
        secs.append(time.perf_counter() - t0)
        assert len(points) == 1 + sum(DEPTHS)
    print(json.dumps({"network": name, "seconds": secs, "median": statistics.median(secs)}))


# ----------------------------------------------------------------------------------------- main


def write_json(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["served", "designs"])
    ap.add_argument("--time", choices=list(DESIGNS), metavar="NETWORK", help="time one SPP of a design network")
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    if opts.time:
        time_design(opts.time, opts.repeat)
        return
    torch.set_num_threads(1)
    if opts.only in (None, "served"):
        write_json(OUT_DIR / "served_models.json", make_served())
    if opts.only in (None, "designs"):
        doc = make_designs()
        write_json(OUT_DIR / "designs.json", doc)
        summarize_designs(doc)


if __name__ == "__main__":
    main()
