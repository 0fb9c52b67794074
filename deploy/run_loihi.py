"""Run a netx network on a Loihi 2 board (``Loihi2HwCfg``) where Intel's Loihi extension and a board exist.

Usage: ``lava-ternary loihi NET --samples N --timesteps T [--dataset digits]`` (also ``python -m
deploy.run_loihi``). The arguments and the network file are checked first. Without Intel's Loihi 2
extension (``lava-loihi``, which provides ``lava.magma.compiler.subcompilers.nc``) or without a
reachable board the command exits 2 with one line saying what is missing; use ``lava-ternary run``
(Lava's CPU simulator) instead. ``docs/loihi.md`` states the integer semantics a Loihi 2 neuron program
for ``TERNARY`` layers must implement.
"""
from __future__ import annotations

from typing import List, Optional

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser, fail, guarded

PROG = "lava-ternary loihi"


def build_parser() -> OneLineParser:
    """The command-line arguments (each checked on parsing: :mod:`lava_ternary.cliargs`)."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file")
    parser.add_argument("--samples", "-n", type=cliargs.positive_int, default=100, help="number of test samples")
    parser.add_argument("--timesteps", "-T", type=cliargs.positive_int, default=4, help="input steps per sample")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--root", type=cliargs.existing_dir, default=None, help="folder of the local datasets")
    parser.add_argument("--latency", type=cliargs.nonneg_int, default=None,
                        help="zero steps appended to every sample (default: one per neuron layer)")
    parser.add_argument("--population", type=cliargs.positive_int, default=1, help="output neurons per class")
    parser.add_argument("--partition", default=None, help="Loihi partition (SLURM) to use")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def missing_hardware(partition: Optional[str] = None) -> Optional[str]:
    """None when Intel's Loihi 2 extension and a board are usable; otherwise what is missing, in one line."""
    import lava_ternary  # noqa: F401  (Python 3.11 fix before lava)
    from lava.utils import loihi
    from lava.utils.system import Loihi2

    Loihi2.preferred_partition = partition
    if not Loihi2.is_loihi2_available:
        return ("Intel's Loihi 2 extension is not installed (lava-loihi: module "
                "lava.magma.compiler.subcompilers.nc not found); use `lava-ternary run` on Lava's CPU simulator")
    try:
        loihi.use_slurm_host(partition=partition)
    except Exception as exc:  # the extension reports a missing board or SLURM setup in many ways
        return f"no Loihi 2 board reachable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: exit 2 with one line when the hardware or its software is missing."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        problem = missing_hardware(args.partition)
        if problem is not None:
            return fail(PROG, RuntimeError(problem))
        settings = cliargs.resolve_run(PROG, args)
        import numpy as np

        from lava_ternary import parity
        from training.data import load_split

        latency = settings.latency
        data = load_split(args.dataset, args.split, args.timesteps, root=args.root)
        count = cliargs.cap_samples(PROG, "--samples", args.samples, len(data))
        x, labels = data.batch(range(count))
        x = np.pad(x.numpy(), [(0, 0)] * (x.dim() - 1) + [(0, latency)])
        run = parity.run_lava(args.net, x, hardware=True, progress=not args.quiet)
        accuracy = float(np.mean(run.predictions(latency, settings.population) == labels.numpy()))
        print(f"{args.net}: Loihi 2 accuracy {accuracy:.4f} on {len(labels)} samples, {run.run_s:.1f} s")
        return 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
