"""Simulate a netx file on an integer input with the fast bit-exact simulator and save every layer's output.

Usage: ``python -m deploy.simulate NET --input X.npy --out Y.npz [--input-message-bits B]
[--input-shape C,H,W] [--input-bias B.npy]`` (also ``lava-ternary simulate ...``). ``X`` holds integers shaped
``[batch, *shape, T]`` or, for one sample, ``[*shape, T]``, with ``shape`` the network's input in torch
order (``C,H,W`` or ``N``). The samples run back to back as ``lava_ternary.sim.simulate`` runs them (each
from the reset state, as Lava with ``reset_interval=T``). ``Y`` (written atomically) holds ``layer_<i>``
for every simulated layer ``i`` (the file's layer index): the messages it sends, ``[batch, *layer shape, T]``
(no batch axis when ``X`` has none): spikes as int8, graded SDNN messages and a neuron-less readout's voltage
as int32, an ``average`` readout as float64. ``--input-bias`` drives the input neuron group with a bias
(scalar, per channel or per neuron, torch order), as lava-dl's own tests drive tinynet and pilotnet. The input message bits default to what
the input range needs; 0 means binary input (Lava sees ``x != 0``). Arguments and the input are checked
before the simulator loads: bad input ends in one line and exit code 2.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser, guarded

PROG = "lava-ternary simulate"
NPY_MAGIC = b"\x93NUMPY"


def npy_file(text: str) -> Path:
    """A ``type=`` validator: an existing, readable ``.npy`` file (numpy's signature is checked)."""
    path = cliargs.existing_file(text)
    with open(path, "rb") as handle:
        if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise argparse.ArgumentTypeError(f"{text}: not a .npy file (no NumPy signature; save the input with "
                                             f"numpy.save)")
    return path


def build_parser() -> OneLineParser:
    """The command-line arguments (each checked on parsing: :mod:`lava_ternary.cliargs`)."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file")
    parser.add_argument("--input", required=True, type=npy_file,
                        help="integer input .npy, [batch, *shape, T] or [*shape, T] (torch order)")
    parser.add_argument("--out", required=True, type=cliargs.output_file,
                        help="output .npz: layer_<index> per simulated layer (written atomically)")
    parser.add_argument("--input-message-bits", type=cliargs.int_range(0, cliargs.MAX_MESSAGE_BITS), default=None,
                        help=f"graded input bits, 0..{cliargs.MAX_MESSAGE_BITS} (0: binary input; default: what "
                             f"the input range needs)")
    parser.add_argument("--input-shape", type=cliargs.shape, default=None,
                        help="C,H,W (or N) for files without an input layer")
    parser.add_argument("--input-bias", type=npy_file, default=None,
                        help="integer .npy of bias mantissas for the input neuron group (scalar, per channel or per "
                             "neuron, torch order)")
    return parser


def load_input(path: Path, option: str = "--input"):
    """The array as int64; ValueError naming the option and file for a pickled, non-numeric or fractional array."""
    import numpy as np

    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise cliargs.ArgumentCheckError(f"{option} {path}: cannot read it without pickle ({exc}); save a plain "
                                         f"integer array with numpy.save") from None
    if x.dtype.kind not in "biuf":
        raise cliargs.ArgumentCheckError(f"{option} {path}: dtype {x.dtype} is not an integer array")
    if x.dtype.kind == "f" and not (np.all(np.isfinite(x)) and np.array_equal(x, np.round(x))):
        raise cliargs.ArgumentCheckError(f"{option} {path}: the values are not all integers (Lava messages are "
                                         f"integers; quantise the input first)")
    if x.size and (x.max() >= 2 ** 63 or x.min() < -2 ** 63):
        raise cliargs.ArgumentCheckError(f"{option} {path}: values beyond the int64 range")
    return x.astype(np.int64)


def batched(x, shape: Tuple[int, ...], path: Path):
    """``x`` as ``[batch, *shape, T]`` and whether it came without the batch axis."""
    wanted = ",".join(map(str, shape))
    if tuple(x.shape[:-1]) == tuple(shape):
        x, single = x[None], True
    elif tuple(x.shape[1:-1]) == tuple(shape):
        single = False
    else:
        raise cliargs.ArgumentCheckError(f"--input {path}: shape {tuple(x.shape)} is neither [batch, {wanted}, T] nor "
                                         f"[{wanted}, T] for the network input {tuple(shape)}")
    if x.shape[0] == 0 or x.shape[-1] == 0:
        raise cliargs.ArgumentCheckError(f"--input {path}: shape {tuple(x.shape)} holds no samples or no time steps")
    return x, single


def message_bits(x, requested: Optional[int], path: Path) -> int:
    """The input message bits: ``requested`` checked against the input range, else what the range needs."""
    low, high = (int(x.min()), int(x.max())) if x.size else (0, 0)
    needed = cliargs.needed_message_bits(max(high, -low), low < 0)
    span = f"values {low}..{high}"
    if needed > cliargs.MAX_MESSAGE_BITS:
        raise cliargs.ArgumentCheckError(f"--input {path}: {span} need {needed} message bits; the simulator carries "
                                         f"at most {cliargs.MAX_MESSAGE_BITS}")
    if requested is None:
        return needed
    if requested == 0 and (low < 0 or high > 1):
        raise cliargs.ArgumentCheckError(f"--input-message-bits 0 sends binary spikes (x != 0), which would turn the "
                                         f"input's {span} into 0/1; use >= {needed} bits")
    if 0 < requested < needed:
        raise cliargs.ArgumentCheckError(f"--input-message-bits {requested} cannot carry the input's {span} (needs "
                                         f"{needed} bits)")
    return requested


def simulate(args) -> Tuple[Dict[str, "object"], List[str]]:
    """Check the input against the network, simulate it; the npz arrays and one summary line per layer."""
    from lava_ternary.netfile import read_network

    spec = read_network(args.net, args.input_shape)
    shape = tuple(int(s) for s in spec.input_shape)
    x, single = batched(load_input(args.input), shape, args.input)
    bits = message_bits(x, args.input_message_bits, args.input)
    from lava_ternary import sim

    layers = sim.compile_network(spec)
    bias = None if args.input_bias is None else load_input(args.input_bias, "--input-bias")
    try:
        result = sim.simulate(layers, x, input_message_bits=bits, input_bias=bias)
    except ValueError as exc:
        if bias is None:
            raise
        raise cliargs.ArgumentCheckError(f"--input-bias {args.input_bias}: {exc}") from None
    kinds = {layer.index: layer.type for layer in spec}
    arrays, lines = {}, []
    for layer, spikes in zip(result.layers, result.spikes):
        out = spikes[0] if single else spikes
        arrays[f"layer_{layer.index}"] = out
        sent, negative = int((out != 0).sum()), int((out < 0).sum())
        lines.append(f"layer_{layer.index}: {kinds[layer.index]} {tuple(layer.out_shape)}, {sent} messages "
                     f"({negative} negative) in {math.prod(out.shape)} slots")
    return arrays, lines


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: simulate, write the npz, print one line per layer; bad input exits 2 with one line."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        import numpy as np

        from lava_ternary.io_utils import atomic_path

        arrays, lines = simulate(args)
        with atomic_path(args.out) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        print("\n".join(lines))
        print(f"{args.net}: {len(arrays)} layers simulated, written to {args.out}")
        return 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
