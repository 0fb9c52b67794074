"""The ``lava-ternary`` command line: thin subcommands over the library and the scripts.

Every subcommand checks its arguments before torch, lava or numba load (:mod:`lava_ternary.cliargs`).
While a command runs, lava-dl's import-time notices that say nothing about the command ("No CUDA runtime
is found" from torch's extension loader, "Prophesee Dataset Toolbox could not be found" from slayer's
object-detection datasets) are filtered out (:func:`quiet_lava_dl`); users' own scripts still see them.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import io
import logging
import sys
from typing import List, Optional

import lava_ternary
from lava_ternary import cliargs, commands

#: module whose import prints the Prophesee notice on stdout, and the logger of the CUDA notice
PROPHESEE_MODULE = "lava.lib.dl.slayer.object_detection.dataset.prophesee_automotive"
CUDA_LOGGER = "torch.utils.cpp_extension"
NOTICES = ("No CUDA runtime is found", "Prophesee Dataset Toolbox could not be found",
           "Only Prophesee DVS demo will not run properly", "Please install it from https://github.com/prophesee")


def _is_notice(text: str) -> bool:
    return any(notice in text for notice in NOTICES)


class _NoticeFilter(logging.Filter):
    """Drops the log records of :data:`NOTICES`."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging protocol
        return not _is_notice(record.getMessage())


class _QuietLoader(importlib.abc.Loader):
    """Runs a module's import with stdout captured; prints back every line that is not a notice."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):  # noqa: D102 - importlib protocol
        return self.loader.create_module(spec)

    def exec_module(self, module):  # noqa: D102 - importlib protocol
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                self.loader.exec_module(module)
        finally:
            kept = [line for line in captured.getvalue().splitlines() if not _is_notice(line)]
            if kept:
                print("\n".join(kept))


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Gives :data:`PROPHESEE_MODULE` a :class:`_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 - importlib protocol
        if fullname != PROPHESEE_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_lava_dl() -> None:
    """Filter lava-dl's import-time notices from this process's output (once; for the command line only)."""
    logger = logging.getLogger(CUDA_LOGGER)
    if not any(isinstance(f, _NoticeFilter) for f in logger.filters):
        logger.addFilter(_NoticeFilter())
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def _smoke(args: argparse.Namespace) -> int:
    """Run a two-population Lava network in floating and fixed point, print the voltages."""
    from lava_ternary.smoke import run_lif_dense_lif
    for tag in ("floating_pt", "fixed_pt"):
        v = run_lif_dense_lif(tag, steps=args.steps)
        print(f"{tag:12s} LIF -> Dense -> LIF voltages per step: {v.tolist()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = commands.OneLineParser(prog="lava-ternary", description=lava_ternary.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lava-ternary {lava_ternary.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.register(sub)
    text = "check that Lava runs here (LIF -> Dense -> LIF on the CPU simulator, floating and fixed point)"
    p = sub.add_parser("smoke", help=text, description=text)
    p.add_argument("--steps", type=cliargs.positive_int, default=10, help="time steps to run (default 10)")
    p.set_defaults(func=_smoke)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the console script."""
    quiet_lava_dl()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
