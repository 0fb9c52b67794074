"""Check your own model against its netx file: per-layer mismatching spikes on Lava and the fast simulator.

Usage: ``lava-ternary verify FACTORY STATE_DICT NET INPUTS`` (or ``python -m deploy.verify ...``), with
``FACTORY`` an importable ``module:function`` that builds the model (no arguments), ``STATE_DICT`` a file
written by ``torch.save(model.state_dict(), ...)`` (an earlier version's amplitudes are migrated,
:func:`lava_ternary.fold.migrate_state_dict`), ``NET`` the netx file and ``INPUTS`` the model input
``(N, C, [H, W], T)`` as ``.npy`` or ``.npz`` (``--key`` picks the array). Prints
:meth:`lava_ternary.verification.Verification.report`; exit code 0 when every spike agrees, 1 on a mismatch,
2 on bad input.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, List, Optional

import numpy as np

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser, guarded


def build_parser() -> OneLineParser:
    """The command-line arguments."""
    parser = OneLineParser(prog="lava-ternary verify", description=__doc__.splitlines()[0])
    parser.add_argument("factory", help="module:function that returns the model (called without arguments)")
    parser.add_argument("state_dict", type=cliargs.checkpoint_file, help="the model's state_dict (torch.save)")
    parser.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file exported from the model")
    parser.add_argument("inputs", type=cliargs.existing_file, help="model input (N, C, [H, W], T) as .npy or .npz")
    parser.add_argument("--key", default=None, help="array name in an .npz (default: its only or first array)")
    parser.add_argument("--samples", type=cliargs.positive_int, default=None, help="use the first N samples")
    parser.add_argument("--input-shape", type=cliargs.shape, default=None,
                        help="C,H,W (or N) for a file without an input layer")
    parser.add_argument("--skip", type=cliargs.nonneg_int, default=0, help="output steps left out of the predictions")
    parser.add_argument("--population", type=cliargs.positive_int, default=1, help="output neurons per class")
    parser.add_argument("--no-lava", action="store_true", help="only the fast simulator")
    parser.add_argument("--no-sim", action="store_true", help="only Lava")
    return parser


def load_factory(text: str) -> Any:
    """Import ``module:function`` and call it; a ValueError names what is missing."""
    module_name, _, function = text.partition(":")
    if not module_name or not function:
        raise ValueError(f"factory: expected module:function, got {text!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current folder, as ``python -m`` has it
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"factory: cannot import {module_name!r} ({exc})") from None
    make = getattr(module, function, None)
    if not callable(make):
        raise ValueError(f"factory: {module_name!r} has no function {function!r}")
    return make()


def load_inputs(path: Path, key: Optional[str]) -> np.ndarray:
    """The input array of a ``.npy`` or ``.npz`` file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix != ".npz":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as data:
        names = list(data.keys())
        if not names:
            raise ValueError(f"{path}: the archive holds no array")
        name = key if key is not None else names[0]
        if name not in names:
            raise ValueError(f"{path}: no array {name!r} (arrays: {', '.join(names)})")
        return data[name]


def run(args) -> Any:
    """Build, load, verify; return the :class:`lava_ternary.verification.Verification`."""
    import torch

    from lava_ternary import fold
    from lava_ternary.verification import verify
    from training.checkpoint import load_torch_file

    model = load_factory(args.factory)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"factory: {args.factory} returned {type(model).__name__}, not a torch.nn.Module")
    state = load_torch_file(args.state_dict)
    if not isinstance(state, dict):
        raise ValueError(f"{args.state_dict}: expected a state_dict, found {type(state).__name__}")
    try:
        model.load_state_dict(fold.migrate_state_dict(model, state))
    except RuntimeError as exc:
        raise ValueError(f"{args.state_dict}: does not fit the model of {args.factory}: "
                         f"{' '.join(str(exc).split())}") from None
    x = load_inputs(args.inputs, args.key)
    if args.samples is not None:
        x = x[:args.samples]
    return verify(model, args.net, x, input_shape=args.input_shape, skip=args.skip, population=args.population,
                  lava=not args.no_lava, sim=not args.no_sim)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print the per-layer report; exit 1 on any mismatch, 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_lava and args.no_sim:
        parser.error("--no-lava and --no-sim together leave nothing to compare")

    def body() -> int:
        result = run(args)
        print(result.report())
        return 0 if result.exact else 1
    return guarded("lava-ternary verify", body)


if __name__ == "__main__":
    raise SystemExit(main())
