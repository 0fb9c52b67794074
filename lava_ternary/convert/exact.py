"""Exact global minimum of the conversion error over the threshold, with ``v0 = theta/2``.

On the sorted positive activations with prefix sums, ``C_m`` at one threshold costs ``O(T·log N)``
(``T`` binary searches for the rounding edges, ``T`` more for the sign changes of ``a − theta·k/T``).
``C_1`` is continuous and piecewise linear in ``theta``; its breakpoints are ``theta = T·a/(k − 1/2)``
(a sample crosses a rounding edge) and ``theta = T·a/k`` (a sample crosses its level), ``k = 1..T``.
``C_2`` is continuous and piecewise quadratic, convex between rounding edges. (Continuity needs
``v0 = theta/2``: with any other ratio the error jumps at the rounding edges and these bounds fail.)

Branch and bound over ``theta``: evaluate ``C`` on a grid; for every interval between grid points, the
number of breakpoints inside (read off the binary searches already done) bounds the total variation
of the derivative, which bounds how far below ``min(C(t1), C(t2))`` the function can dip; ``C_1`` is
also Lipschitz with constant ``mean(n(t1))/T``. Intervals whose lower bound is not below the best
value found are dropped; the rest are split, and once an interval holds few breakpoints every
breakpoint in it (and for ``C_2`` the stationary point of every quadratic piece) is evaluated.
The result is the global minimum up to floating-point rounding.

Memory: the sorted positive values (input dtype) plus one float64 prefix sum per error power
(8 bytes per activation for L1, 16 for L2); everything else is ``O(T)`` per grid point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

_GRID = 256
_SPLIT = 8
_ENUMERATE = 64
_EVAL_CHUNK = 4096
_MAX_ROUNDS = 200
BETA = 0.5


@dataclass
class SortedActivations:
    """Positive activations in ascending order with prefix sums; zeros only count towards the mean.

    Parameters
    ----------
    values : np.ndarray
        1-D, ascending, all ``> 0``.
    n_total : int
        Number of activations including the zeros (the denominator of the mean).
    squares : bool
        Also keep the prefix sums of squares (needed for the L2 error).
    """

    values: np.ndarray
    n_total: int
    squares: bool = False

    def __post_init__(self) -> None:
        v = self.values
        self.p1 = np.zeros(v.size + 1)
        np.cumsum(v, dtype=np.float64, out=self.p1[1:])
        self.p2 = None
        if self.squares:
            self.p2 = np.zeros(v.size + 1)
            np.cumsum(np.square(v, dtype=np.float64), out=self.p2[1:])

    @classmethod
    def from_array(cls, a: np.ndarray, squares: bool = False) -> "SortedActivations":
        """Drop zeros, sort the rest (one copy in the input's float dtype)."""
        flat = np.asarray(a).reshape(-1)
        if flat.dtype not in (np.float32, np.float64):
            flat = flat.astype(np.float64)
        pos = flat[flat > 0]
        pos.sort()
        return cls(pos, flat.size, squares)


def _evaluate(s: SortedActivations, thetas: np.ndarray, T: int, m: int, full: bool = False) -> Dict[str, np.ndarray]:
    """``C_m`` and spike-count statistics at each threshold (vectorised, chunked)."""
    out: Dict[str, list] = {}
    for start in range(0, thetas.size, _EVAL_CHUNK):
        part = _evaluate_chunk(s, thetas[start:start + _EVAL_CHUNK], T, m, full)
        for key, val in part.items():
            out.setdefault(key, []).append(val)
    return {key: np.concatenate(val) for key, val in out.items()}


def _evaluate_chunk(s: SortedActivations, thetas: np.ndarray, T: int, m: int, full: bool) -> Dict[str, np.ndarray]:
    a, p1, n = s.values, s.p1, s.values.size
    k = np.arange(1, T + 1, dtype=np.float64)
    r = thetas[:, None] / T
    E = np.searchsorted(a, ((k - BETA) * r).ravel()).reshape(r.shape[0], T)
    Ex = np.concatenate([E, np.full((E.shape[0], 1), n, dtype=E.dtype)], axis=1)
    cnt = Ex[:, 1:] - Ex[:, :-1]
    S = p1[Ex]
    seg = S[:, 1:] - S[:, :-1]
    level = k * r
    if m == 1:
        K = np.clip(np.searchsorted(a, level.ravel()).reshape(E.shape), E, Ex[:, 1:])
        SK = p1[K]
        below = level * (K - E) - (SK - S[:, :-1])
        above = (S[:, 1:] - SK) - level * (Ex[:, 1:] - K)
        total = p1[E[:, 0]] + np.sum(below + above, axis=1)
        idx_sum = np.sum(E + K, axis=1)
        weighted = np.sum((2.0 * k / T) * (E + K), axis=1)
    else:
        seg2 = s.p2[Ex[:, 1:]] - s.p2[Ex[:, :-1]]
        total = s.p2[E[:, 0]] + np.sum(seg2 - 2.0 * level * seg + level * level * cnt, axis=1)
        idx_sum = np.sum(E, axis=1)
        weighted = np.sum((k - 1.0 + BETA) * E, axis=1)
    res = {"theta": thetas, "value": np.maximum(total, 0.0) / s.n_total,
           "n1": np.sum(k * cnt, axis=1), "n2": np.sum(k * k * cnt, axis=1),
           "A": np.sum(k * seg, axis=1), "idx": idx_sum, "w": weighted}
    if full:
        res["E"] = E
        if m == 1:
            res["K"] = K
    return res


def _lower_bounds(left: Dict[str, np.ndarray], right: Dict[str, np.ndarray], T: int, m: int, n_total: int) -> Tuple[np.ndarray, np.ndarray]:
    """Lower bound of ``C_m`` on each interval and the number of breakpoints inside it."""
    t1, t2 = left["theta"], right["theta"]
    w = t2 - t1
    c1, c2 = left["value"], right["value"]
    count = right["idx"] - left["idx"]
    if m == 1:
        tv = (right["w"] - left["w"]) / n_total
        lipschitz = left["n1"] / (T * n_total)
        lb = np.maximum(np.minimum(c1, c2) - tv * w / 4.0, (c1 + c2 - lipschitz * w) / 2.0)
    else:
        curvature = 2.0 * left["n2"] / (T * T * n_total)
        jumps = 2.0 * t2 * (right["w"] - left["w"]) / (T * T * n_total)
        lb = np.minimum(c1, c2) - (curvature * w + jumps) * w / 4.0
    return lb, count


def _ranges(starts: np.ndarray, stops: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(start, stop)`` for each pair, and the pair index of every element."""
    lengths = np.maximum(stops - starts, 0)
    owner = np.repeat(np.arange(lengths.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    return starts[owner] + (np.arange(owner.size) - offsets[owner]), owner


def _breakpoints(s: SortedActivations, t1: np.ndarray, t2: np.ndarray, T: int, m: int) -> np.ndarray:
    """Every breakpoint of ``C_m`` inside the intervals ``[t1, t2]`` (unique, ascending)."""
    lo = _evaluate(s, t1, T, m, full=True)
    hi = _evaluate(s, t2, T, m, full=True)
    k = np.arange(1, T + 1, dtype=np.float64)
    kinds = [(lo["E"], hi["E"], T / (k - BETA))]
    if m == 1:
        kinds.append((lo["K"], hi["K"], T / k))
    found = []
    for start, stop, scale in kinds:
        idx, owner = _ranges(start.ravel(), stop.ravel())
        found.append(s.values[idx].astype(np.float64) * np.tile(scale, t1.size)[owner])
    return np.unique(np.concatenate(found))


def _enumerate(s: SortedActivations, t1: np.ndarray, t2: np.ndarray, T: int, m: int) -> Tuple[float, float]:
    """Exact minimum over the given intervals: breakpoints, and for L2 the stationary point of each piece."""
    points = np.unique(np.concatenate([_breakpoints(s, t1, t2, T, m), t1, t2]))
    if m == 2:
        mids = (points[:-1] + points[1:]) / 2.0
        st = _evaluate(s, mids, T, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            stationary = np.where(st["n2"] > 0, T * st["A"] / st["n2"], mids)
        points = np.concatenate([points, np.clip(stationary, points[:-1], points[1:])])
    ev = _evaluate(s, points, T, m)
    i = int(np.argmin(ev["value"]))
    return float(ev["value"][i]), float(points[i])


def exact_search(s: SortedActivations, T: int, m: int) -> Tuple[float, float]:
    """Global minimum ``(theta, C_m)`` over all real ``theta > 0`` with ``v0 = theta/2``.

    Parameters
    ----------
    s : SortedActivations
        The activations (at least one positive value).
    T : int
        Latency.
    m : int
        Error power (1 or 2).
    """
    a = s.values
    lo = float(a[0])
    hi = T * float(a[-1]) / (1.0 - BETA)
    grid = np.unique(np.concatenate([np.linspace(lo, hi, _GRID), np.geomspace(lo, hi, _GRID)]))
    ev = _evaluate(s, grid, T, m)
    best = int(np.argmin(ev["value"]))
    best_val, best_theta = float(ev["value"][best]), float(grid[best])
    left = {key: val[:-1] for key, val in ev.items()}
    right = {key: val[1:] for key, val in ev.items()}
    for _ in range(_MAX_ROUNDS):
        lb, count = _lower_bounds(left, right, T, m, s.n_total)
        keep = lb < best_val
        if not keep.any():
            break
        left = {key: val[keep] for key, val in left.items()}
        right = {key: val[keep] for key, val in right.items()}
        count = count[keep]
        narrow = right["theta"] - left["theta"] <= 1e-12 * right["theta"]
        small = (count <= _ENUMERATE) | narrow
        if small.any():
            val, theta = _enumerate(s, left["theta"][small], right["theta"][small], T, m)
            if val < best_val:
                best_val, best_theta = val, theta
        big = ~small
        if not big.any():
            break
        left = {key: val[big] for key, val in left.items()}
        right = {key: val[big] for key, val in right.items()}
        frac = np.arange(1, _SPLIT) / _SPLIT
        t1, t2 = left["theta"], right["theta"]
        inner = (t1[:, None] + (t2 - t1)[:, None] * frac).ravel()
        mid = _evaluate(s, inner, T, m)
        i = int(np.argmin(mid["value"]))
        if mid["value"][i] < best_val:
            best_val, best_theta = float(mid["value"][i]), float(inner[i])
        n_int = t1.size
        new_left, new_right = {}, {}
        for key in left:
            inner_k = mid[key].reshape(n_int, _SPLIT - 1)
            new_left[key] = np.concatenate([left[key][:, None], inner_k], axis=1).ravel()
            new_right[key] = np.concatenate([inner_k, right[key][:, None]], axis=1).ravel()
        left, right = new_left, new_right
    else:
        raise RuntimeError("exact threshold search did not converge")
    return best_theta, best_val
