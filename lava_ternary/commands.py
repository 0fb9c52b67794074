"""The ``lava-ternary`` subcommands: thin wrappers over the scripts' ``main(argv)`` and the library.

:func:`register` adds the scripts of :data:`SCRIPTS` (``train``, ``convert``, ``export``, ``run``,
``evaluate``, ``simulate``, ``report``, ``loihi``, ``demo``, ``verify``) and ``info`` to an ``argparse``
subparsers object. The script wrappers pass every argument after the subcommand to the script (so ``lava-ternary train --help``
is the script's own help). Every argument is checked (:mod:`lava_ternary.cliargs`) before torch, lava or
numba load: a script module imports only light modules at the top, or :data:`PARSERS` names a light
module whose ``build_parser(subcommand)`` checks the arguments first. Bad input
(:class:`~lava_ternary.errors.LavaTernaryError`, a missing file, an OS error) ends with one line on
stderr and exit code 2, never a traceback. :class:`OneLineParser` is the argument parser the scripts
use for the same behaviour on bad arguments.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from typing import Callable, NoReturn

from lava_ternary import cliargs
from lava_ternary.errors import LavaTernaryError

#: subcommand -> (module with ``main(argv)``, help line)
SCRIPTS = {
    "train": ("training.train", "train a ternary/binary SNN on a dataset (lava-dl SLAYER)"),
    "convert": ("training.convert_digits", "ANN-to-SNN conversion experiments with data-driven thresholds"),
    "export": ("deploy.export_netx", "export a checkpoint to a netx HDF5 file"),
    "run": ("deploy.run_lava", "run a netx file on the Lava CPU simulator (fixed_pt)"),
    "evaluate": ("deploy.evaluate", "test-set accuracy of a netx file with the fast bit-exact simulator"),
    "simulate": ("deploy.simulate", "every layer's output of a netx file on an integer input (.npy -> .npz), "
                                    "with the fast bit-exact simulator"),
    "report": ("deploy.report", "per-layer spikes, operations, energy and Loihi 2 fit of a netx file"),
    "loihi": ("deploy.run_loihi", "run a netx file on Loihi 2 (needs Intel's Loihi extension and a board)"),
    "demo": ("deploy.main_job", "the main job end to end on digits: train, export, Lava run, parity, report"),
    "verify": ("deploy.verify", "check your own model (module:function + state_dict) against its netx file"),
}

#: subcommand -> light module whose ``build_parser(subcommand)`` checks the arguments before the script (whose
#: top-level imports are heavy) is imported
PARSERS = {"train": "training.parsers", "convert": "training.parsers"}


NO_PREFIX = "\x01"


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(prog: str, exc: BaseException) -> int:
    """Print ``exc`` as one line for ``prog`` on stderr; return exit code 2."""
    text = str(exc).strip().splitlines()
    print(f"{prog}: error: {text[0] if text else type(exc).__name__}", file=sys.stderr)
    return 2


def guarded(prog: str, body: Callable[[], int]) -> int:
    """Run ``body``; bad input (package errors and ``ValueError`` naming a parameter, missing files, OS errors)
    becomes one line and exit code 2."""
    try:
        return int(body() or 0)
    except (LavaTernaryError, ValueError, FileNotFoundError, OSError) as exc:
        return fail(prog, exc)


def _script(name: str, module: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        prog = f"lava-ternary {name}"
        if name in PARSERS:
            importlib.import_module(PARSERS[name]).build_parser(name).parse_args(list(args.argv))
        try:
            main = importlib.import_module(module).main
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                return fail(prog, RuntimeError(f"the script {module} is not available in this installation"))
            raise
        if inspect.signature(main).parameters:
            return guarded(prog, lambda: main(list(args.argv)))

        def legacy() -> int:  # a script whose main() reads sys.argv itself
            saved = sys.argv
            sys.argv = [prog] + list(args.argv)
            try:
                return main()
            finally:
                sys.argv = saved
        return guarded(prog, legacy)
    return handler


def _info(args: argparse.Namespace) -> int:
    def body() -> int:
        from lava_ternary.netfile import read_network
        from lava_ternary.report import network_table

        spec = read_network(args.net, args.input_shape)
        print(network_table(spec))
        neurons = sum(layer.size for layer in spec if layer.neuron is not None)
        synapses = sum(layer.stored_weights for layer in spec)
        print(f"{len(spec)} layers, {neurons} neurons, {synapses} stored weights, input {spec.input_shape}, "
              f"output {spec.output_shape}")
        return 0
    return guarded("lava-ternary info", body)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add the subcommands to ``sub`` (from ``parser.add_subparsers``); each sets ``func(args) -> int``."""
    for name, (module, text) in SCRIPTS.items():
        # no option prefix of its own: every argument, ``--help`` included, is left to the script
        p = sub.add_parser(name, help=text, add_help=False, prefix_chars=NO_PREFIX,
                           description=f"{text} (arguments go to {module})")
        p.add_argument("argv", nargs=argparse.REMAINDER, help=f"arguments of {module} (see its --help)")
        p.set_defaults(func=_script(name, module))
    text = "print the layer table of a netx file (reads the file only: no Lava, torch or simulation)"
    p = sub.add_parser("info", help=text, description=text)
    p.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file")
    p.add_argument("--input-shape", type=cliargs.shape, default=None,
                   help="C,H,W (or N) for files without an input layer")
    p.set_defaults(func=_info)
