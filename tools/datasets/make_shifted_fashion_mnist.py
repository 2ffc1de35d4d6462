#!/usr/bin/env python3
"""Write shifted copies of the Fashion-MNIST test set, for nfserve's `--datasets` folder.

Each shift is one sub-folder holding an IDX pair with Debian's file names and format
(t10k-images-idx3-ubyte.gz: magic 2051, count, 28, 28, uint8 pixels row-major;
t10k-labels-idx1-ubyte.gz: magic 2049, count, uint8 labels, copied unchanged), so nfserve opens it as an
IDX dataset named after the folder (e.g. `fmnist-noise-32`), next to `fashion-mnist-test`.

Usage:
    python3 tools/datasets/make_shifted_fashion_mnist.py [--out DIR] [--limit N]
        --out    the datasets folder (default <repo>/datasets); existing files in the sub-folders are replaced
        --limit  only the first N test images (default: all 10000)
Source: Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist (or $FMNIST_DIR).
numpy only (no torch). Deterministic: the same bytes on every run (gzip written with mtime 0, no file name).

Formulas, per image x (uint8 [28, 28], computed in float64), each result y rounded half to even with
np.rint, clipped to [0, 255] and stored as uint8:
    contrast    y = m + c * (x - m),  m = mean of that image's 784 pixels    c in 0.5, 0.25, 0.1
                -> fmnist-contrast-0.5, fmnist-contrast-0.25, fmnist-contrast-0.1
    brightness  y = x + b                                                   b in 40, 80, 120
                -> fmnist-brightness-40, fmnist-brightness-80, fmnist-brightness-120
    noise       y = x + s * z,  z = numpy.random.Generator(numpy.random.PCG64(0)).normal(0, 1, (N, 28, 28))
                drawn afresh (seed 0) for each folder, in C order (image, row, column), so a --limit run's
                noise is the first N images' noise of a full run                 s in 16, 32, 64
                -> fmnist-noise-16, fmnist-noise-32, fmnist-noise-64
                (the generator call is rng.normal(0.0, s, size=(N, 28, 28)) = s * standard normal draws)
(Rounding then clipping equals clipping then rounding, the bounds being integers.)
"""
import argparse
import gzip
import os
import struct
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FMNIST_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"

CONTRASTS = (0.5, 0.25, 0.1)
BRIGHTNESS = (40, 80, 120)
NOISE_STDS = (16, 32, 64)
NOISE_SEED = 0


def read_idx(path: Path, magic_expected: int) -> np.ndarray:
    """An IDX ubyte file (gzip or not) as uint8 [dims...]; checks the magic and the length."""
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    magic, = struct.unpack(">I", data[:4])
    if magic != magic_expected:
        raise ValueError(f"{path}: magic {magic}, expected {magic_expected}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise ValueError(f"{path}: {len(body)} bytes of data for dims {dims}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def write_idx(path: Path, arr: np.ndarray, magic: int):
    """uint8 array -> gzip'd IDX (big-endian magic and dims), byte-for-byte deterministic."""
    assert arr.dtype == np.uint8 and arr.ndim == (magic & 0xFF), (arr.dtype, arr.shape, magic)
    header = struct.pack(">I" + "I" * arr.ndim, magic, *arr.shape)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
        gz.write(header)
        gz.write(np.ascontiguousarray(arr).tobytes())
    os.replace(tmp, path)


def to_uint8(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def contrast(x: np.ndarray, c: float) -> np.ndarray:
    xf = x.astype(np.float64)
    m = xf.mean(axis=(1, 2), keepdims=True)
    return to_uint8(m + c * (xf - m))


def brightness(x: np.ndarray, b: float) -> np.ndarray:
    return to_uint8(x.astype(np.float64) + b)


def noise(x: np.ndarray, s: float) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(NOISE_SEED))
    return to_uint8(x.astype(np.float64) + rng.normal(0.0, s, size=x.shape))


def shifts():
    """(folder name, function of the uint8 images) in output order."""
    out = [(f"fmnist-contrast-{c}", lambda x, c=c: contrast(x, c)) for c in CONTRASTS]
    out += [(f"fmnist-brightness-{b}", lambda x, b=b: brightness(x, b)) for b in BRIGHTNESS]
    out += [(f"fmnist-noise-{s}", lambda x, s=s: noise(x, s)) for s in NOISE_STDS]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "datasets", help="datasets folder (default <repo>/datasets)")
    ap.add_argument("--limit", type=int, default=None, help="first N test images (default all 10000)")
    args = ap.parse_args(argv)

    images = read_idx(FMNIST_DIR / IMAGES, 2051)
    labels = read_idx(FMNIST_DIR / LABELS, 2049)
    assert images.shape[0] == labels.shape[0] and images.shape[1:] == (28, 28), images.shape
    if args.limit is not None:
        if not 0 < args.limit <= len(images):
            ap.error(f"--limit must be in 1..{len(images)}")
        images, labels = images[:args.limit], labels[:args.limit]

    for name, fn in shifts():
        y = fn(images)
        assert y.shape == images.shape and y.dtype == np.uint8
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        write_idx(folder / IMAGES, y, 2051)
        write_idx(folder / LABELS, labels, 2049)
        back = read_idx(folder / IMAGES, 2051)
        assert np.array_equal(back, y) and np.array_equal(read_idx(folder / LABELS, 2049), labels), folder
        print(f"{folder}: {len(y)} images, pixel mean {y.mean():.1f} (was {images.mean():.1f}), "
              f"std {y.std():.1f} (was {images.std():.1f}), changed {np.mean(y != images):.1%} of pixels")


if __name__ == "__main__":
    main()
