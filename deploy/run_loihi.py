"""Run a netx network on a Loihi 2 board (``Loihi2HwCfg``) where Intel's Loihi extension and a board exist.

Usage: ``python -m deploy.run_loihi NET --samples N --timesteps T [--dataset digits]``. Without Intel's
Loihi 2 extension (``lava-loihi``, which provides ``lava.magma.compiler.subcompilers.nc``) or without
a reachable board the script exits 2 with one line saying what is missing; use
``deploy/run_lava.py`` (the bit-exact CPU simulator) instead. ``docs/loihi.md`` states the integer
semantics a Loihi 2 neuron program for ``TERNARY`` layers must implement.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from lava_ternary.commands import OneLineParser, guarded

PROG = "lava-ternary run-loihi"


def build_parser() -> OneLineParser:
    """The command-line arguments."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", type=Path, help="netx HDF5 file")
    parser.add_argument("--samples", "-n", type=int, default=100)
    parser.add_argument("--timesteps", "-T", type=int, default=4)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--root", type=Path, default=None, help="folder of the local datasets")
    parser.add_argument("--latency", type=int, default=None, help="zero steps appended to every sample")
    parser.add_argument("--population", type=int, default=1, help="output neurons per class")
    parser.add_argument("--partition", default=None, help="Loihi partition (SLURM) to use")
    return parser


def missing_hardware(partition: Optional[str] = None) -> Optional[str]:
    """None when Intel's Loihi 2 extension and a board are usable; otherwise what is missing, in one line."""
    import lava_ternary  # noqa: F401  (Python 3.11 fix before lava)
    from lava.utils import loihi
    from lava.utils.system import Loihi2

    Loihi2.preferred_partition = partition
    if not Loihi2.is_loihi2_available:
        return ("Intel's Loihi 2 extension is not installed (lava-loihi: module "
                "lava.magma.compiler.subcompilers.nc not found); run deploy/run_lava.py on the CPU simulator")
    try:
        loihi.use_slurm_host(partition=partition)
    except Exception as exc:  # the extension reports a missing board or SLURM setup in many ways
        return f"no Loihi 2 board reachable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: exit 2 with one line when the hardware or its software is missing."""
    args = build_parser().parse_args(argv)
    problem = missing_hardware(args.partition)
    if problem is not None:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2

    def body() -> int:
        from lava_ternary import parity
        from lava_ternary.netfile import read_network
        from training.data import load_split

        spec = read_network(args.net)
        latency = args.latency if args.latency is not None else sum(1 for layer in spec if layer.neuron is not None)
        data = load_split(args.dataset, args.split, args.timesteps, root=args.root)
        x, labels = data.batch(range(min(args.samples, len(data))))
        x = np.pad(x.numpy(), [(0, 0)] * (x.dim() - 1) + [(0, latency)])
        run = parity.run_lava(args.net, x, hardware=True, progress=True)
        accuracy = float(np.mean(run.predictions(latency, args.population) == labels.numpy()))
        print(f"{args.net}: Loihi 2 accuracy {accuracy:.4f} on {len(labels)} samples, {run.run_s:.1f} s")
        return 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
