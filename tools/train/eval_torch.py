#!/usr/bin/env python3
"""Evaluate an nfserve / timm checkpoint folder on the Fashion-MNIST test set with PyTorch + timm:
the reference that the Swift implementation is compared against.

    python tools/train/eval_torch.py --checkpoint checkpoints/fmnist-resnet-bn
    python tools/train/eval_torch.py --checkpoint checkpoints/fmnist-resnet-bn --dump-predictions /tmp/bn.txt
    python tools/train/eval_torch.py --checkpoint checkpoints/fmnist-resnet-bn --image-folder datasets/fashion-mnist-sample

The model is rebuilt from config.json alone: timm.create_model(architecture, num_classes=num_classes,
**model_args) (model_args 'xbn' / 'gn_groups' are popped and the norms swapped by xbn.py), weights
loaded from model.safetensors with strict=True. Each image is preprocessed with timm's eval transform
for config.json's pretrained_cfg (timm.data.resolve_data_config + create_transform: resize to
H / crop_pct, center crop, ToTensor, Normalize), applied to a PIL 'L' image of the IDX pixels.

Prints one JSON line {"model", "images", "top1", "top5"} (percent). --dump-predictions writes the
predicted class index (argmax of the logits) of each test image, one per line, in IDX order.
"""
import argparse
import json
import os
import sys

os.environ.setdefault('OMP_NUM_THREADS', '1')

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import xbn  # noqa: E402

import timm  # noqa: E402
from timm.data import create_transform, resolve_data_config  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def load_checkpoint(folder):
    with open(os.path.join(folder, 'config.json')) as f:
        cfg = json.load(f)
    model_args = dict(cfg.get('model_args', {}))
    num_classes = model_args.pop('num_classes', cfg.get('num_classes'))
    model = xbn.create_xbn_model(cfg['architecture'], num_classes=num_classes, **model_args)
    sd = load_file(os.path.join(folder, 'model.safetensors'))
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, cfg


def eval_transform(cfg):
    data_config = resolve_data_config(pretrained_cfg=cfg['pretrained_cfg'])
    return create_transform(**data_config, is_training=False), data_config


def _label_index(cfg, class_dirs):
    names = cfg.get('label_names') or []
    by_name = {n.replace('/', '-'): i for i, n in enumerate(names)}
    by_name.update({n: i for i, n in enumerate(names)})
    if all(d in by_name for d in class_dirs):
        return {d: by_name[d] for d in class_dirs}
    return {d: i for i, d in enumerate(sorted(class_dirs))}


def iter_image_folder(root, cfg):
    class_dirs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    mapping = _label_index(cfg, class_dirs)
    for d in class_dirs:
        for fn in sorted(os.listdir(os.path.join(root, d))):
            if fn.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')):
                yield os.path.join(d, fn), os.path.join(root, d, fn), mapping[d]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', required=True, help='checkpoint folder (config.json + model.safetensors)')
    p.add_argument('--dump-predictions', metavar='FILE', help='write the predicted class per image, one per line')
    p.add_argument('--image-folder', metavar='DIR',
                   help='evaluate an ImageFolder (e.g. datasets/fashion-mnist-sample) instead of the IDX test set; '
                        'images are opened with PIL and converted to the model\'s channel count')
    p.add_argument('--limit', type=int, default=0, help='only the first N images')
    p.add_argument('--batch-size', type=int, default=500)
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    model, cfg = load_checkpoint(args.checkpoint)
    transform, data_config = eval_transform(cfg)
    in_chans = data_config['input_size'][0]
    mode = {1: 'L', 3: 'RGB'}[in_chans]

    if args.image_folder:
        items = list(iter_image_folder(args.image_folder, cfg))
        names = [it[0] for it in items]
        labels = np.array([it[2] for it in items], dtype=np.int64)
        loader = lambda i: Image.open(items[i][1]).convert(mode)  # noqa: E731
    else:
        images, labels = fmnist.load_split('test')
        names = None
        loader = lambda i: Image.fromarray(images[i], mode='L').convert(mode)  # noqa: E731
    n = len(labels) if not args.limit else min(args.limit, len(labels))

    preds, c1, c5 = [], 0, 0
    with torch.no_grad():
        for s in range(0, n, args.batch_size):
            idx = range(s, min(n, s + args.batch_size))
            x = torch.stack([transform(loader(i)) for i in idx])
            y = torch.from_numpy(labels[s:s + len(idx)])
            logits = model(x)
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            preds.extend(logits.argmax(1).tolist())
            c1 += (top[:, 0] == y).sum().item()
            c5 += (top == y[:, None]).any(1).sum().item()

    model_name = os.path.basename(os.path.normpath(args.checkpoint))
    print(json.dumps({'model': model_name, 'images': n, 'top1': round(100.0 * c1 / n, 4),
                      'top5': round(100.0 * c5 / n, 4)}))
    if args.dump_predictions:
        with open(args.dump_predictions, 'w') as f:
            for i, pr in enumerate(preds):
                f.write(f'{names[i]}\t{pr}\n' if names else f'{pr}\n')


if __name__ == '__main__':
    main()
