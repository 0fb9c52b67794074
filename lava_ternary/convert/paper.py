"""The threshold searches of Bojković et al. as published: Algorithm 1 (T = 1) and Algorithm 2 (T > 1).

Both work on the sorted positive activations (the paper drops the zeros; they add no error for any
candidate). Algorithm 1 walks the lower index ``n0`` with ``n1 = n0 + floor((N − n0)/2)`` (Thm 4.2)
and returns ``theta = a[n1]``, ``v0 = a[n1] − a[n0]``; here its running sums are prefix sums.
Algorithm 2 tries ``theta = a[i]``, ``v0 = theta/2`` for ``i`` from ``N//2`` to ``N − 5`` and computes
each error with one pass over the array (``O(N^2)`` in all); like the paper (Supplementary 7), it can
first thin the array to every k-th element.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

_PASS_ELEMENTS = 1 << 22


def algorithm1(sorted_pos: np.ndarray, n_total: int) -> Tuple[float, float]:
    """Algorithm 1 (T = 1): ``(theta, v0)`` from ascending positive activations."""
    a = sorted_pos.astype(np.float64)
    N = a.size
    if N < 3:
        return float(a[-1]), float(a[-1]) / 2.0
    p = np.concatenate([[0.0], np.cumsum(a)])
    n0 = np.arange(1, N - 1)                      # 1-indexed, as published: i0 = 1 .. N-2
    n1 = n0 + (N - n0) // 2
    i0, i1 = n0 - 1, n1 - 1                       # 0-indexed
    theta = a[i1]
    below = p[i0]                                 # samples that never fire
    under = theta * (i1 - i0) - (p[i1] - p[i0])   # fire, a < theta
    over = (p[N] - p[i1 + 1]) - theta * (N - i1 - 1)
    best = int(np.argmin(below + under + over))
    return float(theta[best]), float(theta[best] - a[i0[best]])


def algorithm2(sorted_pos: np.ndarray, T: int, max_samples: Optional[int] = None) -> float:
    """Algorithm 2 (T > 1): the threshold among ``a[N//2 .. N−5]`` minimising C_1 with ``v0 = theta/2``.

    Parameters
    ----------
    sorted_pos : np.ndarray
        Ascending positive activations.
    T : int
        Latency.
    max_samples : int, optional
        Thin the array to every k-th element so at most this many remain (the paper uses 10^6).
    """
    a = sorted_pos.astype(np.float64)
    if max_samples is not None and a.size > max_samples:
        a = a[::-(-a.size // max_samples)]
    N = a.size
    start, stop = N // 2, N - 4
    if stop <= start:
        start, stop = 0, N
    cand = a[start:stop]
    errors = np.empty(cand.size)
    chunk = max(1, _PASS_ELEMENTS // N)
    for s in range(0, cand.size, chunk):
        theta = cand[s:s + chunk, None]
        n = np.clip(np.floor((T * a[None, :] + theta / 2.0) / theta), 0, T)
        errors[s:s + chunk] = np.abs(a[None, :] - theta * n / T).sum(axis=1)
    return float(cand[int(np.argmin(errors))])
