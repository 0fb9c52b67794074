"""The ``lava-ternary`` command line: thin subcommands over the library and the scripts."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict, List, Optional

import lava_ternary

Handler = Callable[[argparse.Namespace], int]


def _smoke(args: argparse.Namespace) -> int:
    """Run a two-neuron-population Lava network in both fixed and floating point, print the voltages."""
    from lava_ternary.smoke import run_lif_dense_lif
    for tag in ("floating_pt", "fixed_pt"):
        v = run_lif_dense_lif(tag, steps=args.steps)
        print(f"{tag:12s} LIF -> Dense -> LIF, last-layer voltage per step: {v.tolist()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="lava-ternary", description=lava_ternary.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lava-ternary {lava_ternary.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("smoke", help="check that lava runs here (LIF -> Dense -> LIF on the CPU simulator)")
    p.add_argument("--steps", type=int, default=5)
    p.set_defaults(func=_smoke)
    p = sub.add_parser("demo", help="the main job end to end on the digits default")
    p.set_defaults(func=_smoke, steps=5)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
