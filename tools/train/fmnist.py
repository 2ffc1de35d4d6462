"""Fashion-MNIST helpers shared by the training tools: IDX reading, class names, preprocessing.

Reads Debian's dataset-fashion-mnist IDX files directly (gzip + numpy), no torchvision datasets.
"""
import gzip
import os
import struct

import numpy as np

DATA_DIR = os.environ.get('FMNIST_DIR', '/usr/share/datasets/fashion-mnist')

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Mean / std of the 60,000 training images (pixel / 255, population std), rounded to 4 decimals.
# These exact rounded values go into config.json and are used for training and evaluation alike.
# (compute_mean_std() recomputes them: 0.28604 and 0.35302.)
MEAN = 0.2860
STD = 0.3530


def read_idx(path):
    """Read an IDX file (optionally .gz) into a numpy array of its declared dtype and shape."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack('>HBB', data[:4])
    if zero != 0:
        raise ValueError(f'{path}: not an IDX file')
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}
    shape = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtypes[dtype_code], offset=4 + 4 * ndim)
    return arr.reshape(shape)


def load_split(split, data_dir=DATA_DIR):
    """split: 'train' or 't10k' (alias 'test'). Returns (images uint8 [N,28,28], labels int64 [N])."""
    if split == 'test':
        split = 't10k'
    images = read_idx(os.path.join(data_dir, f'{split}-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(data_dir, f'{split}-labels-idx1-ubyte.gz')).astype(np.int64)
    assert images.shape[0] == labels.shape[0]
    return images, labels


def compute_mean_std(images):
    x = images.astype(np.float64) / 255.0
    return float(x.mean()), float(x.std())


def normalize(images_u8):
    """timm eval transform for our pretrained_cfg on 28x28 grayscale: ToTensor (/255) then Normalize.

    images_u8: uint8 array [N, H, W] -> float32 array [N, 1, H, W].
    """
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :]
