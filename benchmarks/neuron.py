"""Forward+backward time of lava_ternary Dense/Conv blocks against slayer's cuba blocks of the same shapes.

Run: ``.venv/bin/python benchmarks/neuron.py``. Prints the ratio of best times (ternary / cuba, target
<= 1.25; the median ratio too) and
writes ``benchmarks/results/neuron.json``. Both are measured in the same run, interleaved, on CPU.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Callable, Dict, List

import lava_ternary  # noqa: F401  (installs the lava import fix before lava is imported)
import torch
from lava.lib.dl import slayer

from lava_ternary import block
from lava_ternary.io_utils import write_json

PARAMS = {"threshold": 0.5, "current_decay": 0.25, "voltage_decay": 0.75}
RESULT = Path(__file__).resolve().parent / "results" / "neuron.json"


def _time(net: torch.nn.Module, x: torch.Tensor) -> float:
    """Seconds for one forward + backward pass."""
    net.zero_grad(set_to_none=True)
    start = time.perf_counter()
    net(x).sum().backward()
    return time.perf_counter() - start


def _compare(make: Callable[..., torch.nn.Module], x: torch.Tensor, repeats: int,
             amplitude: bool = False) -> Dict[str, float]:
    """Best (and median) fwd+bwd time of the ternary and the cuba block, interleaved to share machine noise.

    The ratio uses the best times: on a shared machine they are the least disturbed by other load.

    ``amplitude`` gives the ternary block a learnable input amplitude (``input_amplitude='layer'``).
    """
    torch.manual_seed(0)
    ternary = make(block, dict(PARAMS), **({"input_amplitude": "layer"} if amplitude else {}))
    cuba = make(slayer.block.cuba, dict(PARAMS))
    cuba.synapse.weight.data.copy_(ternary.synapse.weight.data)
    times: Dict[str, List[float]] = {"ternary": [], "cuba": []}
    for _ in range(2):  # warm-up
        _time(ternary, x), _time(cuba, x)
    for _ in range(repeats):
        times["ternary"].append(_time(ternary, x))
        times["cuba"].append(_time(cuba, x))
    best = {k: min(v) for k, v in times.items()}
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {"ternary_s": best["ternary"], "cuba_s": best["cuba"], "ratio": best["ternary"] / best["cuba"],
            "ternary_median_s": med["ternary"], "cuba_median_s": med["cuba"],
            "median_ratio": med["ternary"] / med["cuba"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=32, help="time steps T")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 keeps timings stable on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    T, N = args.steps, args.batch
    dense_x = (torch.rand(N, 256, T) < 0.2).float()
    conv_x = (torch.rand(max(1, N // 4), 8, 16, 16, T) < 0.2).float()
    dense = lambda m, p, **kw: m.Dense(p, 256, 128, weight_scale=2, **kw)  # noqa: E731
    cases = {
        "dense": (dense, dense_x, f"Dense 256->128, N={N}, T={T}"),
        "dense_amplitude": (dense, dense_x, f"Dense 256->128 folding a learnt input amplitude, N={N}, T={T}"),
        "conv": (lambda m, p: m.Conv(p, 8, 16, 3, padding=1, weight_scale=2), conv_x,
                 f"Conv 8->16 3x3 on 16x16, N={max(1, N // 4)}, T={T}"),
    }
    results = {"device": "cpu", "threads": torch.get_num_threads(), "machine": platform.machine(),
               "torch": torch.__version__, "target_ratio": 1.25, "cases": {}}
    for name, (make, x, desc) in cases.items():
        r = _compare(make, x, args.repeats, amplitude=name.endswith("_amplitude"))
        r["shape"] = desc
        results["cases"][name] = r
        print(f"{name:6s} {desc:58s} ternary {r['ternary_s'] * 1e3:8.1f} ms  cuba {r['cuba_s'] * 1e3:8.1f} ms  "
              f"ratio {r['ratio']:.2f} (median {r['median_ratio']:.2f})")
    write_json(RESULT, results)
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
