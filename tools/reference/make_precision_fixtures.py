#!/usr/bin/env python3
"""Write the PyTorch reference for the precision cost of nfserve's int8 execution plan.

For each case below (a parity fixture with a calibration.json, Tests/Fixtures/parity/<case>/) this
script runs timm's model twice on the fixture's `input` (io.safetensors) and writes
Tests/Fixtures/precision/<case>.json: how far the int8 pass is from the FP32 one at each
signal-propagation site and at the logits.

FP32 pass: plain timm (eval, no_grad, float32, 1 thread); its logits must reproduce io.safetensors'
`logits` (checks the loading: tools/reference/fmnist_checkpoints.load_model_dir, weights widened
from F16/BF16 to float32).

Int8 pass: the same model with nfserve's int8 arithmetic simulated on every conv named in
calibration.json["inputs"] (timm module names); every other conv (only the network's first conv:
"conv1", "stem.conv", "stem.conv1") and everything that is not a conv (BN, activations, pooling, SE
attention and its 1x1 convs, adds, the linear head) stays FP32 timm. Per int8 conv:
  input: range (m, M) from the calibration; signed if m < 0: scale = max(-m, M) / 127, levels
    [-128, 127]; else scale = M / 255, levels [0, 255]; scale 1 if 0 or not finite (float32).
    nfserve folds constant scales into the weights, so it quantizes x_plan = x_timm / c:
    q = clamp(round_half_even((x_timm / c) * float32(1 / scale))), all float32, and the conv sees
    c * scale * q. c = 1 except in timm's NormFreeBlock: c = gamma * beta for conv1 and the shortcut's
    downsample.conv (timm's input there is act1(x) * beta), c = gamma for conv3 of a block with `attn`
    (RegNet style: nfserve applies the activation before conv3 without its gain). gamma = the gain of
    timm's activation module (GammaAct.gamma where gamma_in_act, e.g. dm_nfnet; 1 where timm puts
    _nonlin_gamma into ScaledStdConv2d.scale instead, e.g. nf_resnet / nf_regnet, as nfserve's
    NormFreeNet.activationScale does). ResNet: c = 1 everywhere.
  weight: the weight timm's forward multiplies with (nn.Conv2d.weight; for ScaledStdConv2d[Same] the
    standardized weight, F.batch_norm over the reshaped weight with gain * scale and eps, as its
    forward), per output channel s[o] = max|w[o]| / 63 (1 if 0), q = clamp(round_half_away(w / s),
    -63, 63) (float32 division, exact rounding), w_deq = q * s. A BatchNorm right after an int8 conv
    (ResNet) is first folded into it as nfserve folds it (its multiplier and addend in float32 in
    PyTorch's order, w * m and b * m + a in float64 rounded to float32), and then passes its input
    through: folding moves a few weights across a level, and with quantized shortcuts (below) such
    a difference reaches every later block. The NF scalars stay FP32 (per-channel quantization is
    invariant to them, up to float rounding).
  conv: of the dequantized input and weight (+ bias, + TF SAME padding), in float64 (nfserve's int32
    sums are exact), cast to float32.
  residual: a ResNet block without downsample whose conv1 is int8 (and followed by BatchNorm) adds
    its input as conv1 reads it, quantized: the block's input is replaced by q * scale (float32) with
    conv1's step (nfserve's int8 residual stream; ONNX Runtime's QDQ graphs add the same value).

Sites (as tools/reference/make_spp_fixtures.py): 0 "stem" = model.maxpool output (ResNet) /
model.stem output (NormFreeNet); then one per residual block in network order, "layer{s}.{b}" /
"stages.{s}.{b}": the block's sum before any activation after it (ResNet: the input of act3 / act2;
NormFreeBlock: its output). Per site and for the logits, from the float32 tensors in float64:
relative_error = ||int8 - fp32|| / ||fp32||, sqnr_db = 10 log10(sum fp32^2 / sum (int8 - fp32)^2)
(null where the difference is exactly 0); logits also max_abs_difference and top1_agreement
(fraction of rows whose argmax agrees). int8_logits: the simulated pass's logits, row-major.
Also in the file: gammas_used (the activation, its gain gamma, where timm applies _nonlin_gamma),
input_scale_factors (every c != 1, as float32 values), checks (what the checks below measured, and
how many int8 convs clamp some of the fixture's input: it is not the calibration input, so a few
values fall outside the calibrated ranges).

Checks (the script stops if one fails):
  - every calibration key names exactly one Conv2d of the model outside attention modules, every conv
    runs once per pass, and the only such conv without a key is the first one to run;
  - the calibration reproduces: nfserve's calibration input (SplitMix64 + Box-Muller N(0, 1), NCHW,
    seed and image count from calibration.json, at pretrained_cfg input_size) through the FP32 timm
    model gives min / max of x_timm / c per conv equal to calibration.json within 1e-3 of the range
    (nfserve's FP32 plan differs from timm only by float rounding; a wrong c is off by gamma or beta);
  - the simulation's own code path (weight recomputation, padding, hooks) with quantization off and
    a float32 conv reproduces the FP32 pass bit for bit; with the float64 conv, within 1e-5; with
    every BatchNorm folded too, within 1e-5;
  - the rounding helpers (half-even input, half-away weights) on known values.

What the run shows (torch 2.15.0, timm 1.0.31; resnet50's line with torch 2.13.0 CPU, with which its
fixture was last written; site SQNRs from the first block to the last):
  resnet50      sites 35.6 -> 31.7 dB (stem: FP32 conv only, null), logits 27.7 dB, top-1 1/1
  nf_resnet26   sites 43.0 -> 17.2 dB, logits 19.0 dB, top-1 2/2: stage 3 (2x2 maps) clamps up to 2.3%
                of its inputs (the fixture's input exceeds the 4-image calibration); unclamped ~24 dB
  dm_nfnet_f0   stem 27.9 dB (stem.conv2-4 are int8), sites 24-30 dB, logits 33.9 dB, top-1 1/1
  nf_regnet_b0  sites 30.6 -> 25.6 dB, logits 34.3 dB, top-1 1/1
  Every calibration reproduces within 1e-6 with these c; with c = _nonlin_gamma * beta instead (gamma
  where timm has it in the conv) nf_resnet26 / nf_regnet_b0 are off by 42% / 44%.

Usage:  /work/.venv-ref/bin/python tools/reference/make_precision_fixtures.py [--only CASE ...]
Pinned versions: tools/reference/requirements.txt. CPU, float32, 1 thread.
Deterministic: no randomness; inputs, weights and calibrations come from the fixtures (the
calibration check regenerates nfserve's seeded gaussian input).
Run with the reference environment's python (tools/reference/make-env.sh makes it).
"""
import argparse
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

import timm
from timm.layers import ScaledStdConv2d, ScaledStdConv2dSame
from timm.layers.padding import pad_same
from timm.models.nfnet import GammaAct, NormFreeBlock, NormFreeNet, _nonlin_gamma
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from fmnist_checkpoints import REPO, load_model_dir  # noqa: E402  (this folder)
from make_spp_fixtures import SplitMix64, resnet_branch_end  # noqa: E402  (this folder)

torch.set_num_threads(1)

PARITY_DIR = REPO / "Tests" / "Fixtures" / "parity"
OUT_DIR = REPO / "Tests" / "Fixtures" / "precision"
CASES = ["resnet50", "nf_resnet26", "dm_nfnet_f0", "nf_regnet_b0"]
WEIGHT_LEVELS = 63
CALIBRATION_TOLERANCE = 1e-3

# ----------------------------------------------------------------------------------------- quantization


def input_quantizer(rng):
    """(scale, qmin, qmax) of an int8 conv input range {"min", "max"}, float32 as nfserve's ActivationRange."""
    lo, hi = np.float32(rng["min"]), np.float32(rng["max"])
    if lo < 0:
        scale, qmin, qmax = np.float32(max(-lo, hi)) / np.float32(127), -128, 127
    else:
        scale, qmin, qmax = hi / np.float32(255), 0, 255
    if not (np.isfinite(scale) and scale > 0):
        scale = np.float32(1)
    return np.float32(scale), qmin, qmax


def quantize_input(x: torch.Tensor, c: np.float32, scale: np.float32, qmin: int, qmax: int):
    """(c * scale * q as float64, fraction of values clamped): q = clamp(rint((x / c) * float32(1/scale)))."""
    xp = x.detach().numpy().astype(np.float32, copy=False) / c  # float32 / float32 scalar: float32
    v = xp * (np.float32(1) / scale)
    q = np.rint(v)  # half to even, as oneDNN's reorder
    clamped = float(np.mean((q < qmin) | (q > qmax))) if q.size else 0.0
    q = np.clip(q, qmin, qmax).astype(np.float64)
    return torch.from_numpy(q * (float(scale) * float(c))), clamped


def round_half_away(v64: np.ndarray) -> np.ndarray:
    """Swift's Float.rounded(): to nearest, ties away from zero (exact for float32 values held in float64)."""
    return np.sign(v64) * np.floor(np.abs(v64) + 0.5)


def quantize_weight(w: torch.Tensor) -> torch.Tensor:
    """Per output channel symmetric, 63 levels: q * s as float64 (nfserve's QuantizedWeights)."""
    w32 = w.detach().numpy().astype(np.float32, copy=False)
    o = w32.shape[0]
    largest = np.abs(w32.reshape(o, -1)).max(axis=1)
    s = largest / np.float32(WEIGHT_LEVELS)
    s = np.where(largest > 0, s, np.float32(1)).astype(np.float32)
    v = w32 / s.reshape((o,) + (1,) * (w32.ndim - 1))  # float32 division
    q = np.clip(round_half_away(v.astype(np.float64)), -WEIGHT_LEVELS, WEIGHT_LEVELS)
    nonzero = largest > 0
    assert (np.abs(q.reshape(o, -1)).max(axis=1)[nonzero] == WEIGHT_LEVELS).all()
    return torch.from_numpy(q * s.astype(np.float64).reshape((o,) + (1,) * (w32.ndim - 1)))


def check_rounding():
    v = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 62.5, -62.5], dtype=np.float32)
    assert round_half_away(v.astype(np.float64)).tolist() == [1, 2, 3, -1, -2, -3, 0, 63, -63]
    assert np.rint(v).tolist() == [0, 2, 2, -0, -2, -2, 0, 62, -62]
    w = torch.tensor([[0.0, 0.5, -63.0, 31.5, -2.5], [0.0] * 5, [0.0, 0.0, 126.0, 1.0, -1.0]]).reshape(3, 5, 1, 1)
    assert quantize_weight(w).reshape(3, 5).tolist() == [[0, 1, -63, 32, -3], [0] * 5, [0, 0, 126, 2, -2]]
    scale, qmin, qmax = input_quantizer({"min": 0, "max": 255.0})
    assert (scale, qmin, qmax) == (1, 0, 255)
    xq, clamped = quantize_input(torch.tensor([-1.0, 0.5, 1.5, 2.5, 300.0]), np.float32(1), scale, qmin, qmax)
    assert xq.tolist() == [0, 0, 2, 2, 255] and clamped == 0.4
    assert input_quantizer({"min": -2.0, "max": 1.0})[1:] == (-128, 127)
    assert input_quantizer({"min": 0, "max": 0})[0] == 1


# ----------------------------------------------------------------------------------------- the model


def effective_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The weight timm's forward multiplies with (the same operations, so bit-identical)."""
    if isinstance(conv, (ScaledStdConv2d, ScaledStdConv2dSame)):
        return F.batch_norm(
            conv.weight.reshape(1, conv.out_channels, -1), None, None,
            weight=(conv.gain * conv.scale).view(-1), training=True, momentum=0., eps=conv.eps,
        ).reshape_as(conv.weight)
    assert type(conv) is nn.Conv2d, f"no weight rule for {type(conv).__name__}"
    return conv.weight


def attention_modules(model):
    """Modules whose convs are attention (SE / ECA): FP32 by rule, never in the calibration."""
    out = []
    for m in model.modules():
        if isinstance(m, NormFreeBlock):
            out += [a for a in (m.attn, m.attn_last) if a is not None]
        elif isinstance(m, (BasicBlock, Bottleneck)) and m.se is not None:
            out.append(m.se)
    return out


def plan_convs(model):
    """{name: module} of every Conv2d outside attention modules, in named_modules order."""
    inside = {id(sub) for a in attention_modules(model) for sub in a.modules()}
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and id(m) not in inside}


def activation_gain(act) -> float:
    """The gain timm's activation module multiplies by (GammaAct), 1 for a plain activation."""
    return float(act.gamma) if isinstance(act, GammaAct) else 1.0


def input_scale_factors(model):
    """({conv name: c} for c != 1, gammas_used description)."""
    factors = {}
    if isinstance(model, ResNet):
        return factors, {"note": "ResNet: no activation gain, c = 1 for every conv"}
    assert isinstance(model, NormFreeNet), type(model).__name__
    gains = set()
    for s, stage in enumerate(model.stages):
        for b, block in enumerate(stage):
            name = f"stages.{s}.{b}"
            acts = [a for a in (block.act1, block.act2, block.act2b, block.act3) if a is not None]
            gamma = activation_gain(block.act1)
            assert all(activation_gain(a) == gamma for a in acts), f"{name}: activations with different gains"
            gains.add(gamma)
            c_pre = np.float32(np.float32(gamma) * np.float32(block.beta))  # nfserve: activationScale * beta
            factors[f"{name}.conv1"] = c_pre
            if block.downsample is not None:
                factors[f"{name}.downsample.conv"] = c_pre
            if block.attn is not None:
                factors[f"{name}.conv3"] = np.float32(gamma)
    assert len(gains) == 1, gains
    gamma = gains.pop()
    act = model.stages[0][0].act1
    act_name = act.act_fn.__name__ if isinstance(act, GammaAct) else type(act).__name__
    conv = model.stages[0][0].conv1
    table = {k: v for k, v in _nonlin_gamma.items() if math.isclose(v * conv.weight[0].numel() ** -0.5, conv.scale)}
    desc = {
        "activation": act_name,
        "gamma": gamma,
        "gamma_in_act": isinstance(act, GammaAct),
        "nonlin_gamma_in_conv_scale": (next(iter(table.values())) if table and not isinstance(act, GammaAct)
                                       else None),
        "note": ("c = gamma * beta for conv1 / downsample.conv, c = gamma for conv3 after attn; gamma = the "
                 "gain of timm's activation module (GammaAct.gamma; 1 where timm folds _nonlin_gamma into "
                 "ScaledStdConv2d.scale, as nfserve's activationScale)"),
    }
    return {k: v for k, v in factors.items() if v != 1}, desc


# ----------------------------------------------------------------------------------------- passes


def attach_site_hooks(model, store):
    """Copies of the SPP sites' tensors into store (list of (name, tensor)), as make_spp_fixtures.py."""
    handles = []

    def keep(name):
        return lambda t: store.append((name, t.detach().clone()))

    if isinstance(model, ResNet):
        handles.append(model.maxpool.register_forward_hook((lambda k: lambda m, i, o: k(o))(keep("stem"))))
        for s in range(1, 5):
            for b, block in enumerate(getattr(model, f"layer{s}")):
                _, act = resnet_branch_end(block)
                handles.append(act.register_forward_pre_hook((lambda k: lambda m, i: k(i[0]))(keep(f"layer{s}.{b}"))))
        return handles
    assert isinstance(model, NormFreeNet)
    handles.append(model.stem.register_forward_hook((lambda k: lambda m, i, o: k(o))(keep("stem"))))
    for s, stage in enumerate(model.stages):
        for b, block in enumerate(stage):
            handles.append(block.register_forward_hook((lambda k: lambda m, i, o: k(o))(keep(f"stages.{s}.{b}"))))
    return handles


def batchnorm_after(model):
    """{conv name: the BatchNorm2d right after it} in a ResNet (blocks' convK / bnK, the stem's
    conv1 / bn1, downsample [.., conv, bn]): the pairs nfserve folds (ExecutionPlan.foldedConvolution)."""
    pairs = {}
    if not isinstance(model, ResNet):
        return pairs
    modules = dict(model.named_modules())
    for name, m in modules.items():
        if not isinstance(m, nn.Conv2d):
            continue
        prefix, _, leaf = name.rpartition(".")
        if leaf.startswith("conv"):
            bn = modules.get((prefix + "." if prefix else "") + "bn" + leaf[4:])
        else:
            bn = modules.get(f"{prefix}.{int(leaf) + 1}") if leaf.isdigit() else None
        if isinstance(bn, nn.BatchNorm2d):
            pairs[name] = bn
    return pairs


def folded_weight_and_bias(conv: nn.Conv2d, bn: nn.BatchNorm2d):
    """nfserve's folding, bit for bit: m, a as Normalization2d (float32, PyTorch's order), then
    float32(w * m) and float32(b * m + a) computed in float64 (foldedConvolution)."""
    f32 = np.float32
    var, mean = bn.running_var.numpy().astype(f32), bn.running_mean.numpy().astype(f32)
    gamma, beta = bn.weight.detach().numpy().astype(f32), bn.bias.detach().numpy().astype(f32)
    inv_std = f32(1) / np.sqrt(var + f32(bn.eps))
    m = gamma * inv_std
    a = beta - mean * inv_std * gamma
    w = effective_weight(conv).detach().numpy().astype(np.float64)
    m64 = m.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    b = conv.bias.detach().numpy().astype(np.float64) if conv.bias is not None else np.zeros(len(m))
    return (torch.from_numpy((w * m64).astype(f32)),
            torch.from_numpy((b * m.astype(np.float64) + a.astype(np.float64)).astype(f32)))


def simulated_forward(conv, quant, stats, float64, folded=None):
    """A replacement forward for `conv`: quant None (input and weight as timm) or (c, scale, qmin, qmax);
    folded: (weight, bias) with the BatchNorm after it folded in (which then passes its input through)."""
    same_pad = isinstance(conv, ScaledStdConv2dSame) and conv.same_pad
    assert conv.padding_mode == "zeros"

    def forward(x):
        w = effective_weight(conv) if folded is None else folded[0]
        if quant is not None:
            x, clamped = quantize_input(x, *quant)
            w = quantize_weight(w)
            stats.append(clamped)
        if same_pad:
            x = pad_same(x, conv.kernel_size, conv.stride, conv.dilation)
        b = conv.bias if folded is None else folded[1]
        if float64:
            x, w, b = x.double(), w.double(), None if b is None else b.double()
            return F.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups).float()
        return F.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups)

    return forward


def attach_residual_quantization(model, quantized, ranges):
    """ResNet blocks without downsample whose conv1 (followed by BatchNorm) is int8: the block's input
    replaced by its quantized value, q * scale with conv1's step, in float32 (what nfserve's
    dequantization gives), so that conv1 and the shortcut both read it (nfserve's int8 residual
    stream). conv1 quantizes it again, to the same levels."""
    handles = []
    for s in range(1, 5):
        for b, block in enumerate(getattr(model, f"layer{s}", [])):
            name = f"layer{s}.{b}.conv1"
            if block.downsample is not None or name not in quantized or not isinstance(block.bn1, nn.BatchNorm2d):
                continue
            quant = (np.float32(1),) + input_quantizer(ranges[name])
            hook = (lambda q: lambda m, i: (quantize_input(i[0], *q)[0].float(),))(quant)
            handles.append(block.register_forward_pre_hook(hook))
    return handles


def run(model, x, convs=None, quantized=None, factors=None, ranges=None, float64=(), fold=()):
    """(site list, logits, clamped fractions). convs given: every conv through the simulated forward;
    quantized: the names simulated in int8 (the rest with quantization off); float64: the names whose
    conv is computed in float64 (the rest in float32, as timm); fold: the names whose BatchNorm after
    them is folded into them, as nfserve's plan does before quantizing the weights."""
    sites, stats = [], []
    handles = attach_site_hooks(model, sites)
    if quantized is not None:
        handles += attach_residual_quantization(model, quantized, ranges)
    patched = []
    folds = batchnorm_after(model) if fold else {}
    try:
        for name, conv in (convs or {}).items():
            quant = None
            if quantized is not None and name in quantized:
                c = factors.get(name, np.float32(1))
                quant = (c,) + input_quantizer(ranges[name])
            bn = folds.get(name) if name in fold else None
            folded = None
            if bn is not None:
                folded = folded_weight_and_bias(conv, bn)
                bn.forward = lambda t: t
                patched.append(bn)
            conv.forward = simulated_forward(conv, quant, stats, name in float64, folded)
            patched.append(conv)
        with torch.no_grad():
            logits = model(x).float()
    finally:
        for module in patched:
            del module.forward
        for h in handles:
            h.remove()
    return sites, logits, stats


def conv_order(model, x):
    """Names of every Conv2d in the order they run (each once)."""
    order = []
    handles = [m.register_forward_pre_hook((lambda n: lambda m, i: order.append(n))(n))
               for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return order


def calibration_input(shape, seed):
    """nfserve's calibrate --dataset gaussian input: Float(SplitMix64(seed).nextNormal()), NCHW order."""
    g = SplitMix64(seed)
    n = int(np.prod(shape))
    vals = np.array([g.next_normal() for _ in range(n)], dtype=np.float64).astype(np.float32)
    return torch.from_numpy(vals).reshape(shape)


def check_calibration(model, cfg, calib, factors):
    """Largest |ours - calibration.json| / range over every conv's min and max (see the docstring)."""
    assert calib.get("dataset") == "gaussian" and calib.get("method") == "minmax", calib
    x = calibration_input([calib["images"]] + list(cfg["pretrained_cfg"]["input_size"]), calib["seed"])
    seen = {}
    convs = plan_convs(model)

    def hook(name):
        def f(m, inp):
            xp = inp[0].detach().numpy() / factors.get(name, np.float32(1))
            seen[name] = (float(xp.min()), float(xp.max()))
        return f

    handles = [convs[n].register_forward_pre_hook(hook(n)) for n in calib["inputs"]]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    worst, worst_name = 0.0, None
    for name, r in calib["inputs"].items():
        lo, hi = seen[name]
        span = max(abs(r["min"]), abs(r["max"]))
        dev = max(abs(lo - r["min"]), abs(hi - r["max"])) / span
        if dev > worst:
            worst, worst_name = dev, name
    return worst, worst_name


# ----------------------------------------------------------------------------------------- metrics


def compare(fp32: torch.Tensor, int8: torch.Tensor):
    a, b = fp32.double(), int8.double()
    diff = b - a
    signal, noise = float((a * a).sum()), float((diff * diff).sum())
    return {"relative_error": math.sqrt(noise) / math.sqrt(signal),
            "sqnr_db": None if noise == 0 else 10 * math.log10(signal / noise)}


def max_rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


# ----------------------------------------------------------------------------------------- cases


def make_case(case):
    cdir = PARITY_DIR / case
    model, cfg = load_model_dir(cdir)
    calib = json.loads((cdir / "calibration.json").read_text())
    ranges = calib["inputs"]
    io = load_file(str(cdir / "io.safetensors"))
    x, ref_logits = io["input"].float(), io["logits"].float()

    # 1. FP32 pass (plain timm), checked against the fixture's logits.
    fp32_sites, fp32_logits, _ = run(model, x)
    dev = max_rel(fp32_logits, ref_logits)
    assert dev <= 1e-4, f"{case}: FP32 logits differ from io.safetensors by {dev:.3g} (relative to max)"

    # Which convs are int8 / FP32.
    convs = plan_convs(model)
    order = [n for n in conv_order(model, x) if n in convs]
    assert sorted(order) == sorted(convs) and len(set(order)) == len(order), "a conv ran twice or never"
    missing = [k for k in ranges if k not in convs]
    assert not missing, f"{case}: calibration keys naming no conv: {missing}"
    fp32_convs = [n for n in order if n not in ranges]
    assert fp32_convs == order[:1], f"{case}: convs without a calibration entry besides the first: {fp32_convs}"
    factors, gammas = input_scale_factors(model)
    assert set(factors) <= set(ranges), set(factors) - set(ranges)

    # Checks: the calibration reproduces with these c; the simulation's path without quantization.
    calib_dev, calib_worst = check_calibration(model, cfg, calib, factors)
    assert calib_dev <= CALIBRATION_TOLERANCE, f"{case}: calibration off by {calib_dev:.3g} at {calib_worst}"
    id_sites, id_logits, _ = run(model, x, convs=convs)
    assert [n for n, _ in id_sites] == [n for n, _ in fp32_sites]
    same = torch.equal(id_logits, fp32_logits) and all(torch.equal(a, b) for (_, a), (_, b) in zip(id_sites, fp32_sites))
    assert same, f"{case}: simulation without quantization is not the FP32 pass"
    f64_sites, f64_logits, _ = run(model, x, convs=convs, float64=set(convs))
    f64_dev = max([max_rel(f64_logits, fp32_logits)] + [max_rel(a, b) for (_, a), (_, b) in zip(f64_sites, fp32_sites)])
    assert f64_dev <= 1e-5, f"{case}: float64 convs without quantization off by {f64_dev:.3g}"
    fold_sites, fold_logits, _ = run(model, x, convs=convs, float64=set(convs), fold=set(convs))
    fold_dev = max([max_rel(fold_logits, fp32_logits)] + [max_rel(a, b) for (_, a), (_, b) in zip(fold_sites, fp32_sites)])
    assert fold_dev <= 1e-5, f"{case}: folded BatchNorms without quantization off by {fold_dev:.3g}"

    # 2. Simulated int8 pass.
    q_sites, q_logits, clamped = run(model, x, convs=convs, quantized=set(ranges), factors=factors,
                                     ranges=ranges, float64=set(ranges), fold=set(ranges))
    assert len(clamped) == len(ranges), (len(clamped), len(ranges))
    assert [n for n, _ in q_sites] == [n for n, _ in fp32_sites]

    # 3. Metrics.
    sites = []
    for i, ((name, a), (_, b)) in enumerate(zip(fp32_sites, q_sites)):
        sites.append({"index": i, "name": name, **compare(a, b)})
    logits = compare(fp32_logits, q_logits)
    logits["max_abs_difference"] = float((q_logits.double() - fp32_logits.double()).abs().max())
    logits["top1_agreement"] = float((q_logits.argmax(1) == fp32_logits.argmax(1)).double().mean())

    doc = {
        "case": case,
        "generator": "tools/reference/make_precision_fixtures.py",
        "torch": torch.__version__,
        "timm": timm.__version__,
        "quantized_convs": len(ranges),
        "fp32_convs": fp32_convs,
        "gammas_used": gammas,
        "input_scale_factors": {k: float(v) for k, v in factors.items()},
        "sites": sites,
        "logits": logits,
        "int8_logits": [float(v) for v in q_logits.flatten()],
        "int8_logits_shape": list(q_logits.shape),
    }
    assert calib_worst is not None or calib_dev == 0
    # What the checks saw, and how much of the fixture input fell outside the calibrated ranges.
    checks = {"fp32_vs_fixture_logits": dev, "calibration_max_deviation": calib_dev,
              "float64_conv_deviation": f64_dev, "folded_batchnorm_deviation": fold_dev,
              "convs_with_clamping": sum(c > 0 for c in clamped),
              "max_clamped_fraction": max(clamped)}
    doc["checks"] = checks
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=CASES, help="write only these cases")
    opts = ap.parse_args()
    check_rounding()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for case in opts.only or CASES:
        doc = make_case(case)
        checks = doc["checks"]
        (OUT_DIR / f"{case}.json").write_text(json.dumps(doc, indent=1) + "\n")
        g = doc["gammas_used"]
        print(f"{case}: {doc['quantized_convs']} int8 convs, FP32 {doc['fp32_convs']}, "
              f"gamma {g.get('gamma', 1.0)} ({g.get('activation', 'relu')}), "
              f"c != 1 on {len(doc['input_scale_factors'])} convs")
        print("  checks: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in checks.items()))
        print("  site sqnr_db: " + " ".join("-" if s["sqnr_db"] is None else f"{s['sqnr_db']:.1f}"
                                            for s in doc["sites"]))
        lg = doc["logits"]
        print(f"  logits: sqnr_db {lg['sqnr_db']:.2f} relative_error {lg['relative_error']:.4g} "
              f"max_abs_difference {lg['max_abs_difference']:.4g} top1_agreement {lg['top1_agreement']}", flush=True)


if __name__ == "__main__":
    main()
