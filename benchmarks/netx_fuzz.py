"""A larger byte-flip fuzz than the test suite's: count clear errors, loads and bad outcomes of hostile files.

Flips 1-4 bytes (half of them inside dataset values) of two small networks — a TERNARY conv net and a
stock CUBA dense net with biases at the 13-bit edges — and sometimes truncates the result. Each case
goes through ``read_network`` (isolated child parse), and every file that loads through the simulator
(``compile_network`` + ``simulate``) and the Lava loader's construction (``lava_ternary.netx.Network``).
An outcome is *clear* (one ``NetxFormatError`` naming the file), *loaded* (all three succeed) or *bad*
(any other exception). Prints the counts and writes ``benchmarks/results/netx_fuzz.json``.

Usage: ``python benchmarks/netx_fuzz.py [--cases 1000] [--seed 0] [--out benchmarks/results/netx_fuzz.json]``.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import lava_ternary  # noqa: F401
from lava_ternary.errors import NetxFormatError
from lava_ternary.io_utils import atomic_path
from lava_ternary.netfile import read_network

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from fuzzing import data_spans, flip_bytes  # noqa: E402
from netx_read import write_files  # noqa: E402


def write_cuba(path: Path) -> Path:
    """input (5,) -> dense 6 CUBA (biases +-4095/-4096) -> dense 3 CUBA."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        for index, (ltype, shape, n_in) in enumerate([("input", [5], None), ("dense", [6], 5), ("dense", [3], 6)]):
            group = root.create_group(str(index))
            group.create_dataset("type", (1,), "S10", [ltype.encode()])
            group.create_dataset("shape", data=np.array(shape))
            if n_in is None:
                continue
            group.create_dataset("weight", data=(2 * rng.integers(-100, 100, (shape[0], n_in))).astype(np.int16))
            group.create_dataset("bias", data=np.where(rng.random(shape[0]) < 0.5, 4095, -4096).astype(np.int16))
            neuron = group.create_group("neuron")
            neuron.create_dataset("type", data="CUBA", dtype=h5py.string_dtype())
            for key, value in (("iDecay", 1024), ("vDecay", 0), ("vThMant", 300), ("refDelay", 1)):
                neuron.create_dataset(key, data=np.int64(value))
    return path


def exercise(path: Path) -> None:
    from lava_ternary.netx import Network
    from lava_ternary.sim import compile_network, simulate

    spec = read_network(path)
    layers = compile_network(spec)
    x = np.random.default_rng(0).integers(-3, 4, (2, *spec.input_shape, 3))
    simulate(layers, x, input_message_bits=6)
    Network(net_config=str(path), input_message_bits=6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/netx_fuzz.json")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    counts = collections.Counter()
    bad = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = [write_files(folder)["conv"], write_cuba(folder / "cuba.net")]
        originals = [(src.read_bytes(), data_spans(src)) for src in sources]
        for case in range(args.cases):
            data, spans = originals[case % len(originals)]
            raw = flip_bytes(data, spans, rng)
            path = folder / f"case{case}.net"
            path.write_bytes(raw)
            try:
                exercise(path)
                counts["loaded"] += 1
            except NetxFormatError as err:
                counts["clear" if str(path) in str(err) else "bad"] += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                counts["bad"] += 1
                bad.append(f"case {case}: {type(exc).__name__}: {exc}"[:300])
            path.unlink()
    result = {"cases": args.cases, "clear": counts["clear"], "loaded": counts["loaded"], "bad": counts["bad"],
              "seconds": round(time.perf_counter() - start, 1), "bad_examples": bad[:20]}
    print(json.dumps(result, indent=2))
    with atomic_path(args.out) as tmp_out:
        Path(tmp_out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
