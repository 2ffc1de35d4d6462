"""What the diagnostics' reference scripts share: Debian's Fashion-MNIST test set read from its
IDX files, timm's eval transform applied to it, and a checkpoint folder (config.json +
model.safetensors) built as timm would (XBNBlock models through tools/train/xbn.py).
Used by make_spp_fixtures.py and make_esm_fixtures.py.
"""
import gzip
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from timm.data import create_transform, resolve_data_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "train"))
import xbn  # noqa: E402  (create_xbn_model: timm ResNet + XBNBlock norm swap)

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path, magic_expected: int) -> np.ndarray:
    """An IDX ubyte file (gzip or not): images (magic 2051) [N, rows, cols] or labels (magic 2049) [N]."""
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    magic, = struct.unpack(">I", data[:4])
    assert magic == magic_expected, f"{path}: magic {magic}, expected {magic_expected}"
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fmnist_test(count):
    """(images uint8 [count, 28, 28], labels int64 [count]): the first `count` of t10k, in file order."""
    for suffix in (".gz", ""):
        images, labels = FMNIST_DIR / f"t10k-images-idx3-ubyte{suffix}", FMNIST_DIR / f"t10k-labels-idx1-ubyte{suffix}"
        if images.exists() and labels.exists():
            imgs, labs = read_idx(images, 2051)[:count], read_idx(labels, 2049)[:count].astype(np.int64)
            assert len(imgs) == count == len(labs), f"only {len(imgs)} test images"
            return imgs, labs
    raise FileNotFoundError(f"no t10k IDX pair in {FMNIST_DIR} (apt-get install dataset-fashion-mnist)")


def eval_input(pretrained_cfg, imgs):
    """Images through timm's eval transform for pretrained_cfg (PIL 'L'), checked against x/255 normalize."""
    data_config = resolve_data_config(pretrained_cfg=pretrained_cfg)
    tf = create_transform(**data_config, is_training=False)
    x = torch.stack([tf(Image.fromarray(np.ascontiguousarray(im))) for im in imgs]).contiguous()
    mean = torch.tensor(pretrained_cfg["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(pretrained_cfg["std"], dtype=torch.float32).view(1, -1, 1, 1)
    by_hand = (torch.from_numpy(imgs.copy()).float().div(255.0).unsqueeze(1) - mean) / std
    assert x.shape == by_hand.shape and torch.allclose(x, by_hand, atol=1e-6), "eval transform != x/255 normalize"
    return x


def load_model_dir(model_dir: Path):
    """timm.create_model(architecture, num_classes, **model_args) (xbn/gn_groups via create_xbn_model),
    weights widened to float32, strict load, eval."""
    cfg = json.loads((model_dir / "config.json").read_text())
    args = dict(cfg.get("model_args", {}))
    model = xbn.create_xbn_model(cfg["architecture"], num_classes=cfg["num_classes"], **args)
    sd = {k: (v.float() if v.is_floating_point() else v)
          for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    model.load_state_dict(sd, strict=True)
    return model.float().eval(), cfg
