"""Benchmark of the exact threshold search.

1. Exact search versus the paper's Algorithm 2 (no thinning) on the same N = 3·10^4 sample.
2. Exact search (whole call: drop zeros, sort, prefix sums, search) at N = 10^6 and 10^7 for
   T in {1, 2, 4, 8, 32}, as a multiple of ``np.sort`` on the same array, and its peak memory
   (tracemalloc, numpy allocations) as a multiple of the array size.

Writes ``benchmarks/results/threshold.json``. Usage: ``python benchmarks/threshold.py [--quick]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lava_ternary.convert import optimal_threshold
from lava_ternary.io_utils import write_json

RESULT = Path(__file__).resolve().parent / "results" / "threshold.json"


def sample(n: int, seed: int) -> np.ndarray:
    """ReLU-like activations: 30% zeros, the rest log-normal (heavy upper tail, as in deep layers)."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 1.0, n)
    a[rng.random(n) < 0.3] = 0.0
    return a


def timed(fn, repeats: int) -> tuple:
    """Best wall time of ``repeats`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def peak_bytes(fn) -> int:
    """Peak traced allocation of one call."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10^6 only for the sort comparison")
    args = parser.parse_args()
    out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "numpy": np.__version__},
           "data": "30% zeros, rest lognormal(0, 1), float64", "vs_paper": [], "vs_sort": []}

    a = sample(30_000, 0)
    for T in tqdm((2, 8), desc="exact vs paper, N=3e4"):
        t_exact, exact = timed(lambda: optimal_threshold(a, T), 5)
        t_paper, paper = timed(lambda: optimal_threshold(a, T, method="paper"), 1)
        row = {"N": a.size, "T": T, "exact_s": t_exact, "paper_s": t_paper, "speedup": t_paper / t_exact,
               "exact_error": exact.error, "paper_error": paper.error, "exact_theta": exact.theta,
               "paper_theta": paper.theta}
        out["vs_paper"].append(row)
        print(f"N=3e4 T={T}: exact {t_exact * 1e3:.1f} ms, paper {t_paper:.2f} s, speedup {row['speedup']:.0f}x, "
              f"C1 exact {exact.error:.6f} <= paper {paper.error:.6f}")

    sizes = (10**6,) if args.quick else (10**6, 10**7)
    for n in sizes:
        a = sample(n, 1)
        repeats = 3 if n <= 10**6 else 1
        t_sort, _ = timed(lambda: np.sort(a), repeats)
        for error in ("l1", "l2"):
            for T in tqdm((1, 2, 4, 8, 32), desc=f"exact vs np.sort, N={n:.0e}, {error}"):
                t_exact, res = timed(lambda: optimal_threshold(a, T, error=error), repeats)
                row = {"N": n, "T": T, "error": error, "sort_s": t_sort, "exact_s": t_exact,
                       "ratio_to_sort": t_exact / t_sort, "theta": res.theta, "value": res.error}
                if T == 8:
                    row["peak_bytes"] = peak_bytes(lambda: optimal_threshold(a, T, error=error))
                    row["peak_over_input"] = row["peak_bytes"] / a.nbytes
                out["vs_sort"].append(row)
                mem = f", peak {row['peak_over_input']:.2f}x input" if "peak_bytes" in row else ""
                print(f"N={n:.0e} {error} T={T}: sort {t_sort:.3f} s, exact {t_exact:.3f} s = "
                      f"{row['ratio_to_sort']:.2f}x sort{mem}")
    write_json(RESULT, out)
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
