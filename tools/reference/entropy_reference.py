"""The entropy (KL divergence) calibration threshold, computed independently of nfserve in NumPy,
for the histogram CalibrationEntropyTests builds: counts of |x| for 10^7 draws of N(0, 1) over
4,096 equal bins of [0, 20), plus 3 outliers at bin 4055. The algorithm is MXNet's
`_get_optimal_threshold` (TensorRT's entropy calibration) on a histogram of |x|: for each candidate
number of kept bins i (from the level count up, in steps of 16 bins), P = the kept bins with the
clipped counts added to the last one, Q = the kept bins without them merged into `levels` groups
and spread over P's non-empty bins, both smoothed (1e-4), and the least KL(P || Q) wins.

Usage: python3 tools/reference/entropy_reference.py  (prints, per level count, the bins kept and
the threshold in standard deviations; the test's expected values come from it).
"""
import math

import numpy as np

BINS, LIMIT, SAMPLES = 4096, 20.0, 1e7


def histogram():
    edges = [math.erf(b * LIMIT / BINS / math.sqrt(2)) for b in range(BINS + 1)]
    h = np.array([int(round(SAMPLES * (edges[b + 1] - edges[b]))) for b in range(BINS)])
    h[int(0.99 * BINS)] += 3
    return h


def smooth(p, eps=1e-4):
    zeros, nonzeros = (p == 0), (p != 0)
    if nonzeros.sum() == 0:
        return None
    return p + eps * zeros - eps * zeros.sum() / nonzeros.sum() * nonzeros


def threshold(h, levels):
    n, best, best_divergence = len(h), len(h), float("inf")
    for i in range(levels, n + 1, max(1, n // 256)):
        sliced = h[:i].astype(np.float64)
        p = sliced.copy()
        p[-1] += h[i:].sum()
        merged, q = i // levels, np.zeros(i)
        for j in range(levels):
            start = j * merged
            stop = i if j == levels - 1 else start + merged
            norm = (p[start:stop] != 0).sum()
            if norm:
                q[start:stop] = sliced[start:stop].sum() / norm
        q[p == 0] = 0
        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            continue
        ps, qs = ps / ps.sum(), qs / qs.sum()
        divergence = float(np.sum(ps * np.log(ps / qs)))
        if divergence < best_divergence:
            best, best_divergence = i, divergence
    return best


if __name__ == "__main__":
    h = histogram()
    for levels in (128, 256):
        kept = threshold(h, levels)
        print(f"{levels} levels: {kept} bins, threshold {kept * LIMIT / BINS} standard deviations")
