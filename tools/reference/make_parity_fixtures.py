#!/usr/bin/env python3
"""Write the PyTorch/timm parity fixtures for nfserve.

For every case below this script builds a narrow timm model, overwrites all of its weights with
seeded random values (never timm's init: BN stats, gains and skip-init gains must all matter),
optionally rounds the weights to F16/BF16, and writes

    Tests/Fixtures/parity/<case>/config.json       timm / HF-Hub layout (loadable by timm: local-dir:<folder>)
    Tests/Fixtures/parity/<case>/model.safetensors  state_dict under timm's key names, in the case's dtype
    Tests/Fixtures/parity/<case>/io.safetensors     "input" F32 [N,C,H,W] (the model input, already normalized)
                                                    "logits" F32 [N,K] = model(input), eval, inference_mode, float32
    Tests/Fixtures/parity/manifest.json

Deterministic: every case has its own fixed seed; running the script twice writes identical files
(on the same machine / torch build: float32 CPU kernels may differ in the last bits elsewhere).

Usage:  python tools/reference/make_parity_fixtures.py [--out DIR] [--only CASE ...]
        [--no-verify]
Pinned versions: tools/reference/requirements.txt.
Run with the reference environment's python (tools/reference/make-env.sh makes it).
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

import timm
from timm.layers import ScaledStdConv2d, ScaledStdConv2dSame

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "Tests" / "Fixtures" / "parity"

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def case(name, family, architecture, model_args, num_classes, dtype, input_shape, seed,
         keep_num_batches_tracked=False, mean=None, std=None):
    return dict(case=name, family=family, architecture=architecture, model_args=model_args,
                num_classes=num_classes, dtype=dtype, input_shape=input_shape, seed=seed,
                keep_num_batches_tracked=keep_num_batches_tracked, mean=mean, std=std)


# Seeds are fixed per case (not derived from list position) so that adding a case changes nothing else.
CASES = [
    # ---------------------------------------------------------------- ResNet (timm resnet.py)
    # NOTE: timm's ResNet ignores stem_width for the plain 7x7 stem (inplanes is hard-coded to 64),
    # so every non-deep-stem case below has a 64-channel stem and a stride-1 layer1.0.downsample.
    case("resnet18", "resnet", "resnet18", {"channels": [8, 16, 32, 64]},
         10, "F32", [2, 3, 32, 32], 1001, keep_num_batches_tracked=True),
    case("resnet34", "resnet", "resnet34", {"channels": [8, 16, 16, 32]},
         7, "F16", [1, 3, 40, 28], 1002),
    case("resnet50", "resnet", "resnet50", {"channels": [8, 16, 32, 32]},
         10, "BF16", [1, 3, 32, 32], 1003),
    case("resnet101", "resnet", "resnet101", {"channels": [4, 8, 8, 16], "in_chans": 1},
         5, "F32", [1, 1, 32, 32], 1004, mean=[0.5], std=[0.5]),
    case("resnet18d", "resnet", "resnet18d", {"stem_width": 8, "channels": [8, 16, 32, 64], "in_chans": 1},
         10, "F32", [1, 1, 29, 31], 1005, mean=[0.5], std=[0.5]),
    case("resnet26d", "resnet", "resnet26d", {"stem_width": 8, "channels": [8, 16, 16, 32]},
         10, "F16", [2, 3, 33, 37], 1006, keep_num_batches_tracked=True),
    case("resnet50d", "resnet", "resnet50d", {"stem_width": 16, "channels": [8, 16, 32, 32]},
         10, "F32", [1, 3, 35, 35], 1007),
    case("resnet26_deep_tiered", "resnet", "resnet26",
         {"stem_type": "deep_tiered", "stem_width": 16, "channels": [8, 16, 16, 32]},
         10, "F32", [1, 3, 32, 32], 1008),
    case("resnet18_fmnist", "resnet", "resnet18",
         {"layers": [1, 1, 1, 1], "channels": [16, 32, 64, 128], "in_chans": 1},
         10, "F32", [1, 1, 28, 28], 1009, mean=[0.2860], std=[0.3530]),
    # Wide enough for the execution plan's Winograd kernels (3x3 stride-1 convolutions with 64 or
    # more channels on outputs of 7x7 or more: layer1 and layer2 here, at batch 2).
    case("resnet18_winograd", "resnet", "resnet18", {"channels": [64, 64, 64, 64]},
         10, "F16", [2, 3, 56, 60], 1010),

    # ---------------------------------------------------------------- XBNBlock ResNets (timm ResNet + norm swap)
    # gn_groups 64 = one channel per group (capped at the channel count): then the last stage must be
    # larger than 1x1 or GroupNorm has one value per group (PyTorch refuses it), hence the larger inputs.
    case("xbn_p1_resnet18", "xbn", "resnet18", {"channels": [8, 8, 16, 16], "xbn": "p1", "gn_groups": 4},
         10, "F32", [2, 3, 32, 32], 2001),
    case("xbn_p2_resnet18", "xbn", "resnet18", {"channels": [8, 8, 16, 16], "xbn": "p2", "gn_groups": 64},
         10, "F16", [1, 3, 50, 46], 2002),
    case("xbn_p3_resnet18", "xbn", "resnet18", {"channels": [8, 8, 16, 16], "xbn": "p3", "gn_groups": 4},
         10, "BF16", [1, 3, 33, 35], 2003, keep_num_batches_tracked=True),
    case("xbn_p1_resnet50", "xbn", "resnet50", {"channels": [4, 8, 8, 8], "xbn": "p1", "gn_groups": 64},
         10, "BF16", [1, 3, 48, 44], 2004),
    case("xbn_p2_resnet50", "xbn", "resnet50", {"channels": [4, 8, 8, 8], "xbn": "p2", "gn_groups": 4},
         10, "F32", [2, 3, 31, 29], 2005),
    case("xbn_p3_resnet50", "xbn", "resnet50", {"channels": [4, 8, 8, 8], "xbn": "p3", "gn_groups": 64},
         10, "F16", [1, 3, 40, 52], 2006),

    # ---------------------------------------------------------------- NormFreeNet (timm nfnet.py)
    # Narrowed through NfCfg overrides. timm derives num_features (and stem_chs) from the *default*
    # channels inside the model_cfgs entry, so they must be overridden together with channels.
    # nf_resnet*: 7x7 stem (no activation) + max-pool, ReLU, gamma folded into every conv, no final_conv,
    # final_act plain ReLU, conv3.gain zero-init in timm (randomized here).
    case("nf_resnet26", "nfnet", "nf_resnet26", {"channels": [16, 32, 32, 64], "stem_chs": 16},
         10, "F32", [2, 3, 45, 38], 3001),
    case("nf_resnet50", "nfnet", "nf_resnet50", {"channels": [16, 32, 32, 64], "stem_chs": 16},
         10, "F16", [1, 3, 49, 51], 3002),
    # conv2 with 64 channels (bottleneck ratio 0.25 of 256) on 14x14 and 7x7: Winograd in the plan.
    case("nf_resnet26_winograd", "nfnet", "nf_resnet26", {"channels": [256, 256, 256, 256], "stem_chs": 16},
         10, "F16", [1, 3, 56, 56], 3007),
    case("nf_resnet101", "nfnet", "nf_resnet101", {"channels": [16, 16, 32, 32], "stem_chs": 16},
         10, "BF16", [1, 3, 40, 36], 3003),
    case("nf_seresnet26", "nfnet", "nf_seresnet26", {"channels": [16, 32, 32, 64], "stem_chs": 16},
         10, "F32", [1, 3, 35, 33], 3004),
    # ECA kernel size follows the channel count: 3 for 16/32 channels, 5 for 128.
    case("nf_ecaresnet26", "nfnet", "nf_ecaresnet26", {"channels": [16, 32, 32, 128], "stem_chs": 16},
         10, "F16", [1, 3, 37, 34], 3005),
    # nf_regnet_b0: RegNet-style (reg=True): SE between conv2 and conv3 on mid channels, mid from in_chs
    # (bottle_ratio 2.25, 1.0 for the very first block), width_factor 0.75, 3x3 stem, SiLU, final_conv.
    case("nf_regnet_b0", "nfnet", "nf_regnet_b0", {"channels": [8, 8, 16, 16], "num_features": 32},
         10, "BF16", [1, 3, 33, 35], 3006),
    # dm_nfnet_f*: deep_quad stem, GELU with gamma in the activation, TF SAME padding (ScaledStdConv2dSame,
    # asymmetric only where a stride-2 conv sees an even size), conv2b, SE, skipinit_gain.
    # f0..f2 keep their registered depths; f3..f6 differ from f0 only by depth, and at their real depth
    # (48..84 blocks) the safetensors headers alone would take ~0.2-0.3 MB each, so their depths are narrowed.
    case("dm_nfnet_f0", "nfnet", "dm_nfnet_f0",
         {"channels": [8, 16, 24, 32], "stem_chs": 16, "group_size": 4, "num_features": 64},
         10, "F32", [1, 3, 37, 42], 3100),
    case("dm_nfnet_f1", "nfnet", "dm_nfnet_f1",
         {"channels": [8, 16, 16, 24], "stem_chs": 16, "group_size": 4, "num_features": 48},
         10, "F16", [2, 3, 33, 31], 3101),
    case("dm_nfnet_f2", "nfnet", "dm_nfnet_f2",
         {"channels": [8, 8, 16, 16], "stem_chs": 16, "group_size": 4, "num_features": 32},
         10, "BF16", [1, 3, 35, 40], 3102),
    case("dm_nfnet_f3", "nfnet", "dm_nfnet_f3",
         {"depths": [2, 2, 4, 2], "channels": [8, 16, 16, 24], "stem_chs": 16, "group_size": 8,
          "num_features": 48},
         10, "BF16", [1, 3, 41, 39], 3103),
    case("dm_nfnet_f4", "nfnet", "dm_nfnet_f4",
         {"depths": [1, 2, 5, 2], "channels": [8, 8, 16, 16], "stem_chs": 16, "group_size": 4,
          "num_features": 32},
         10, "F16", [1, 3, 31, 34], 3104),
    case("dm_nfnet_f5", "nfnet", "dm_nfnet_f5",
         {"depths": [1, 3, 6, 3], "channels": [8, 8, 16, 16], "stem_chs": 16, "group_size": 4,
          "num_features": 32},
         10, "BF16", [1, 3, 29, 33], 3105),
    case("dm_nfnet_f6", "nfnet", "dm_nfnet_f6",
         {"depths": [1, 2, 7, 3], "channels": [8, 8, 16, 16], "stem_chs": 16, "group_size": 4,
          "num_features": 32},
         10, "F16", [1, 3, 33, 27], 3106),
    # nfnet_f0: the same deep_quad / conv2b / SE block but timm-style: gamma folded into the convs,
    # symmetric padding, no skipinit_gain, conv3.gain zero-init.
    case("nfnet_f0", "nfnet", "nfnet_f0",
         {"channels": [8, 16, 24, 32], "stem_chs": 16, "group_size": 4, "num_features": 64},
         10, "F32", [1, 3, 35, 39], 3200),
    # nfnet_l0: SiLU, group_size 64, bottle_ratio 0.25, SE rd_ratio 0.25; eca_nfnet_l0: ECA instead of SE.
    case("nfnet_l0", "nfnet", "nfnet_l0",
         {"channels": [16, 32, 32, 64], "stem_chs": 16, "group_size": 8, "num_features": 96},
         10, "F16", [1, 3, 39, 37], 3201),
    case("eca_nfnet_l0", "nfnet", "eca_nfnet_l0",
         {"channels": [16, 32, 32, 128], "stem_chs": 16, "group_size": 8, "num_features": 192},
         10, "BF16", [2, 3, 37, 35], 3202),
]


# ------------------------------------------------------------------------------------------ XBN
XBN_SWAPS = {
    # variant -> (BasicBlock norm, Bottleneck norm) replaced by GroupNorm in every block.
    "p1": ("bn1", "bn1"),
    "p2": ("bn1", "bn2"),
    "p3": ("bn2", "bn3"),
}


def gn_like(bn: nn.BatchNorm2d, gn_groups: int) -> nn.GroupNorm:
    c = bn.num_features
    groups = min(gn_groups, c)
    assert c % groups == 0, f"GroupNorm: {c} channels not divisible by {groups} groups"
    return nn.GroupNorm(groups, c, eps=1e-5, affine=True)


def apply_xbn(model: nn.Module, variant: str, gn_groups: int) -> None:
    """Turn a timm ResNet into the XBNBlock variant (docs/models.md, "XBNBlock ResNets"): stem bn1 -> GroupNorm,
    one BatchNorm per block -> GroupNorm, downsample BatchNorms kept. Key names unchanged."""
    from timm.models.resnet import BasicBlock, Bottleneck
    assert isinstance(model.bn1, nn.BatchNorm2d), "XBN expects the plain 7x7 stem"
    model.bn1 = gn_like(model.bn1, gn_groups)
    basic_name, bottle_name = XBN_SWAPS[variant]
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            if isinstance(block, Bottleneck):
                name = bottle_name
            elif isinstance(block, BasicBlock):
                name = basic_name
            else:
                raise TypeError(type(block))
            setattr(block, name, gn_like(getattr(block, name), gn_groups))


def build_model(c):
    args = copy.deepcopy(c["model_args"])
    xbn = args.pop("xbn", None)
    gn_groups = args.pop("gn_groups", 64)
    model = timm.create_model(c["architecture"], pretrained=False, num_classes=c["num_classes"], **args)
    if xbn is not None:
        apply_xbn(model, xbn, gn_groups)
    return model.eval()


# ------------------------------------------------------------------------------------------ weights
@torch.no_grad()
def randomize(model: nn.Module, g: torch.Generator) -> None:
    """Seeded non-default weights:
    conv/linear weight ~ N(0, 1/fan_in); conv/linear bias ~ N(0, 0.2); norm weight ~ U(0.5, 1.5);
    norm bias ~ N(0, 0.2); BN running_mean ~ N(0, 0.2), running_var ~ U(0.5, 2.0);
    ScaledStdConv2d gain ~ U(0.5, 1.5); skipinit_gain ~ U(0.5, 1.0)."""
    touched = set()
    for mname, m in model.named_modules():
        p = (mname + ".") if mname else ""
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.normal_(0.0, fan_in ** -0.5, generator=g)
            touched.add(p + "weight")
            if m.bias is not None:
                m.bias.normal_(0.0, 0.2, generator=g)
                touched.add(p + "bias")
            if isinstance(m, (ScaledStdConv2d, ScaledStdConv2dSame)):
                m.gain.uniform_(0.5, 1.5, generator=g)
                touched.add(p + "gain")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.normal_(0.0, 0.2, generator=g)
            touched.update({p + "weight", p + "bias"})
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                touched.update({p + "running_mean", p + "running_var"})
        sk = getattr(m, "skipinit_gain", None)
        if isinstance(sk, torch.Tensor):
            sk.uniform_(0.5, 1.0, generator=g)
            touched.add(p + "skipinit_gain")
    untouched = [k for k, v in model.state_dict().items()
                 if v.is_floating_point() and k not in touched]
    if untouched:
        raise RuntimeError(f"parameters left at timm's init: {untouched}")
    for k, v in model.state_dict().items():
        if k.endswith(".gain") or k.endswith("skipinit_gain"):
            assert bool((v != 0).all()), f"{k} still zero"


def state_dict_for_file(model: nn.Module, dtype_name: str, keep_nbt: bool):
    """Return (tensors to save, float32 state_dict to load back) with the rounding applied."""
    dt = DTYPES[dtype_name]
    file_sd, back = {}, {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            if keep_nbt:
                file_sd[k] = v.detach().clone().contiguous()
            continue
        assert v.dtype == torch.float32, (k, v.dtype)
        r = v.detach().to(dt).contiguous().clone()
        file_sd[k] = r
        back[k] = r.to(torch.float32)
    return file_sd, back


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def make_case(c, out_dir: Path, verify: bool):
    torch.manual_seed(c["seed"])  # timm init itself is irrelevant (overwritten) but keep it deterministic
    model = build_model(c)
    g = torch.Generator().manual_seed(c["seed"])
    randomize(model, g)
    for m in model.modules():  # some timm checkpoints carry a nonzero count; value is irrelevant in eval
        if isinstance(m, nn.BatchNorm2d) and m.num_batches_tracked is not None:
            m.num_batches_tracked.fill_(1000)

    file_sd, back = state_dict_for_file(model, c["dtype"], c["keep_num_batches_tracked"])
    missing, unexpected = model.load_state_dict(back, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith("num_batches_tracked") for k in missing), missing

    gi = torch.Generator().manual_seed(c["seed"] + 500000)
    x = torch.randn(*c["input_shape"], generator=gi, dtype=torch.float32)
    with torch.inference_mode():
        logits = model(x).float().contiguous()
    assert logits.shape == (c["input_shape"][0], c["num_classes"]), logits.shape
    assert torch.isfinite(logits).all()

    cdir = out_dir / c["case"]
    cdir.mkdir(parents=True, exist_ok=True)
    C, H, W = c["input_shape"][1:]
    mean = c["mean"] or IMAGENET_MEAN
    std = c["std"] or IMAGENET_STD
    assert len(mean) == C and len(std) == C
    config = {
        "architecture": c["architecture"],
        "num_classes": c["num_classes"],
        "model_args": c["model_args"],
        "pretrained_cfg": {
            "input_size": [C, H, W],
            "interpolation": "bilinear",
            "crop_pct": 1.0,
            "crop_mode": "center",
            "mean": mean,
            "std": std,
        },
    }
    write_json(cdir / "config.json", config)
    save_file(file_sd, str(cdir / "model.safetensors"), metadata={"format": "pt"})
    save_file({"input": x.contiguous(), "logits": logits}, str(cdir / "io.safetensors"),
              metadata={"format": "pt"})

    if verify:
        verify_case(c, cdir, x, logits)

    scale = float(logits.abs().max())
    return {
        "case": c["case"],
        "architecture": c["architecture"],
        "model_args": c["model_args"],
        "dtype": c["dtype"],
        "input_shape": c["input_shape"],
        "num_classes": c["num_classes"],
        "seed": c["seed"],
        "family": c["family"],
        "logit_scale": float(f"{scale:.6g}"),
        "num_batches_tracked": c["keep_num_batches_tracked"],
        "num_params": sum(v.numel() for k, v in file_sd.items() if v.is_floating_point()),
    }


def verify_case(c, cdir: Path, x, logits):
    """Reload the written files the way a consumer would and check the logits reproduce bit-for-bit:
    timm's own local-dir loader for timm architectures, the script's builder for XBN."""
    from safetensors.torch import load_file
    if c["family"] == "xbn":
        m = build_model(c)
        sd = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(cdir / "model.safetensors")).items()}
        missing, unexpected = m.load_state_dict(sd, strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    else:
        m = timm.create_model(f"local-dir:{cdir}", pretrained=True).eval()
    io = load_file(str(cdir / "io.safetensors"))
    with torch.inference_mode():
        y = m(io["input"])
    if not torch.equal(y, io["logits"]):
        raise RuntimeError(f"{c['case']}: reload mismatch, max diff {(y - io['logits']).abs().max().item()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="write only these cases (manifest still lists all)")
    ap.add_argument("--no-verify", action="store_true", help="skip the reload check")
    opts = ap.parse_args()

    names = [c["case"] for c in CASES]
    assert len(set(names)) == len(names)
    assert len(set(c["seed"] for c in CASES)) == len(CASES)
    opts.out.mkdir(parents=True, exist_ok=True)

    entries = []
    for c in CASES:
        if opts.only and c["case"] not in opts.only:
            continue
        e = make_case(c, opts.out, verify=not opts.no_verify)
        flag = "" if 0.1 <= e["logit_scale"] <= 1e4 else "   <-- OUT OF RANGE"
        print(f"{e['case']:20s} {e['family']:6s} {e['dtype']:4s} input {str(e['input_shape']):18s} "
              f"params {e['num_params']:8d} logit_scale {e['logit_scale']:.4g}{flag}", flush=True)
        entries.append(e)

    if not opts.only:
        manifest = {
            "note": ("Generated by tools/reference/make_parity_fixtures.py with "
                     f"torch {torch.__version__}, timm {timm.__version__} (CPU, float32, 1 thread). "
                     "'input' in io.safetensors is the model input (already normalized); 'logits' = "
                     "model(input) in eval mode under torch.inference_mode(), float32, computed from the "
                     "weights exactly as stored in model.safetensors (F16/BF16 rounded, then widened). "
                     "xbn cases: timm ResNet with the XBNBlock norm swap of docs/models.md "
                     "(model_args xbn/gn_groups are popped before timm.create_model)."),
            "torch": torch.__version__,
            "timm": timm.__version__,
            "cases": entries,
        }
        write_json(opts.out / "manifest.json", manifest)
        bad = [e["case"] for e in entries if not 0.1 <= e["logit_scale"] <= 1e4]
        if bad:
            print(f"WARNING: logit scale out of range for {bad}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
