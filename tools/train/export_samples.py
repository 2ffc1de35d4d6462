#!/usr/bin/env python3
"""Write a small labelled sample of the Fashion-MNIST test set as PNG files in ImageFolder layout:

    datasets/fashion-mnist-sample/<class name, '/' -> '-'>/<test-set index>.png

30 images per class (300 in all), chosen with numpy.random.default_rng(seed) from the 10,000 test
images, each an 8-bit grayscale 28x28 PNG holding exactly the IDX pixels (checked by reading back).
The file name is the image's index in t10k-images-idx3-ubyte, so results can be matched with
eval_torch.py --dump-predictions on the full test set.

    python tools/train/export_samples.py [--out datasets/fashion-mnist-sample] [--per-class 30] [--seed 0]
"""
import argparse
import os
import shutil
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='datasets/fashion-mnist-sample')
    p.add_argument('--per-class', type=int, default=30)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)

    images, labels = fmnist.load_split('test')
    rng = np.random.default_rng(args.seed)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    total = 0
    for c, name in enumerate(fmnist.CLASS_NAMES):
        folder = os.path.join(args.out, name.replace('/', '-'))
        os.makedirs(folder)
        idx = np.sort(rng.choice(np.flatnonzero(labels == c), size=args.per_class, replace=False))
        for i in idx:
            path = os.path.join(folder, f'{int(i)}.png')
            Image.fromarray(images[i], mode='L').save(path, optimize=True)
            back = np.asarray(Image.open(path))
            assert back.dtype == np.uint8 and back.shape == (28, 28) and np.array_equal(back, images[i]), path
            total += 1
    print(f'wrote {total} images to {args.out}')


if __name__ == '__main__':
    main()
