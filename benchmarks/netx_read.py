"""Cost of the isolated, bounded netx read: ``read_network`` in a forked child vs in-process, and hostile refusals.

Measures (median of ``--repeat`` reads) on three files written here: a small conv net, a 3-layer
1024-wide dense net (~8 MB of float32 weights), and a hostile file with 100000 layer groups (the old
reader took 46 s in ``lava-ternary info``). Prints the numbers and writes
``benchmarks/results/netx_read.json``.

Usage: ``python benchmarks/netx_read.py [--repeat 10] [--out benchmarks/results/netx_read.json]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import lava_ternary  # noqa: F401
from lava_ternary.errors import NetxFormatError
from lava_ternary.io_utils import atomic_path
from lava_ternary.netfile import LIMITS, read_network

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fuzzing import layer_group  # noqa: E402

NEURON = {"type": "TERNARY", "iDecay": 1024, "vDecay": 512, "vThMant": 80, "refDelay": 1, "resetMode": "hard",
          "spikeMode": "ternary", "vInit": 0, "messageBits": 2}


def write_files(folder: Path) -> dict:
    rng = np.random.default_rng(0)
    files = {"conv": folder / "conv.net", "dense1024": folder / "dense.net", "layers100000": folder / "many.net"}
    with h5py.File(files["conv"], "w") as handle:
        root = handle.create_group("layer")
        layer_group(root, 0, "input", [1, 8, 8])
        layer_group(root, 1, "conv", [8, 8, 8], NEURON, weight=2.0 * rng.integers(-60, 60, (8, 1, 3, 3)),
                    stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1)
        layer_group(root, 2, "flatten", [512, 1, 1])
        layer_group(root, 3, "dense", [10], NEURON, weight=2.0 * rng.integers(-60, 60, (10, 512)))
    with h5py.File(files["dense1024"], "w") as handle:
        root = handle.create_group("layer")
        for i in range(3):
            layer_group(root, i, "dense", [1024], NEURON,
                        weight=(2 * rng.integers(-60, 60, (1024, 1024))).astype(np.float32))
    with h5py.File(files["layers100000"], "w", libver="latest") as handle:
        root = handle.create_group("layer")
        for i in range(100000):
            root.create_group(str(i))
    return files


def _median_read(path: Path, isolate: bool, repeat: int) -> float:
    limits = dataclasses.replace(LIMITS, isolate=isolate)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            read_network(path, limits=limits)
        except NetxFormatError:
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/netx_read.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in write_files(Path(tmp)).items():
            row = {f"{mode}_s": _median_read(path, mode == "isolated", args.repeat)
                   for mode in ("in_process", "isolated")}
            row["overhead_s"] = row["isolated_s"] - row["in_process_s"]
            results[name] = row
            print(f"{name:14s} in-process {row['in_process_s'] * 1e3:7.1f} ms  isolated {row['isolated_s'] * 1e3:7.1f} ms"
                  f"  overhead {row['overhead_s'] * 1e3:6.1f} ms")
    with atomic_path(args.out) as tmp_out:
        Path(tmp_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
