"""The ``lava-ternary`` command line: thin subcommands over the library and the scripts."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import lava_ternary
from lava_ternary import commands


def _smoke(args: argparse.Namespace) -> int:
    """Run a two-population Lava network in floating and fixed point, print the voltages."""
    from lava_ternary.smoke import run_lif_dense_lif
    for tag in ("floating_pt", "fixed_pt"):
        v = run_lif_dense_lif(tag, steps=args.steps)
        print(f"{tag:12s} LIF -> Dense -> LIF voltages per step: {v.tolist()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="lava-ternary", description=lava_ternary.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lava-ternary {lava_ternary.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.register(sub)
    p = sub.add_parser("smoke", help="check that lava runs here (LIF -> Dense -> LIF on the CPU simulator)")
    p.add_argument("--steps", type=int, default=10)
    p.set_defaults(func=_smoke)
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
