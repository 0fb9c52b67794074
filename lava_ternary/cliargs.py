"""Argument checks of the ``lava-ternary`` subcommands, done before any heavy import or computing.

Two kinds:

* ``argparse`` ``type=`` validators (:func:`int_range`, :func:`positive_int`, :func:`shape`,
  :func:`netx_file`, :func:`output_file`, ...): a bad value ends in one line naming the argument and the
  allowed range (``lava-ternary evaluate: error: argument --population: 0 is not an integer >= 1``),
  exit code 2. They import only the standard library.
* checks that need the network file or the dataset (:func:`resolve_run`): latency against the network's
  depth, input message bits against the input range, ``--input-shape`` against network and dataset,
  ``--population`` against the output layer and the classes, sample counts against the split. They raise
  :class:`ArgumentCheckError` (a ``ValueError``: one line and exit 2 through
  :func:`lava_ternary.commands.guarded`) or print one warning line that spells out the consequence.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple

from lava_ternary.io_utils import check_writable

#: the largest graded input message: the simulator carries messages exactly in float32 (24-bit mantissa)
MAX_MESSAGE_BITS = 24
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class ArgumentCheckError(ValueError):
    """An argument that passed its type check but does not fit the network or the dataset."""


def _fail(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def int_range(low: Optional[int] = None, high: Optional[int] = None) -> Callable[[str], int]:
    """A ``type=`` validator: an integer in ``[low, high]`` (either bound may be open)."""
    if low is not None and high is not None:
        allowed = f"an integer in {low}..{high}"
    elif low is not None:
        allowed = f"an integer >= {low}"
    elif high is not None:
        allowed = f"an integer <= {high}"
    else:
        allowed = "an integer"

    def check(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise _fail(f"{text!r} is not {allowed}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail(f"{value} is not {allowed}")
        return value
    check.__name__ = allowed
    return check


positive_int = int_range(1)
nonneg_int = int_range(0)
#: seeds: numpy's and torch's generators both take 0..2**32-1
seed = int_range(0, 2 ** 32 - 1)
message_bits = int_range(1, MAX_MESSAGE_BITS)


def float_range(low: float = -math.inf, *, strict: bool = False) -> Callable[[str], float]:
    """A ``type=`` validator: a finite float ``> low`` (``strict``) or ``>= low``."""
    allowed = f"a finite number {'>' if strict else '>='} {low:g}"

    def check(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise _fail(f"{text!r} is not {allowed}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise _fail(f"{text} is not {allowed}")
        return value
    check.__name__ = allowed
    return check


positive_float = float_range(0.0, strict=True)
nonneg_float = float_range(0.0)


def shape(text: str) -> Tuple[int, ...]:
    """A ``type=`` validator: ``'C,H,W'`` or ``'N'``, one to three positive integers."""
    try:
        dims = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise _fail(f"{text!r} is not comma-separated integers such as 1,28,28 (C,H,W) or 784 (N)") from None
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise _fail(f"{text!r} is not 1 to 3 positive integers such as 1,28,28 (C,H,W) or 784 (N)")
    return dims


def device(text: str) -> str:
    """A ``type=`` validator: ``cpu``, ``cuda`` or ``cuda:N`` (``mps`` too)."""
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", text):
        raise _fail(f"{text!r} is not cpu, cuda, cuda:N or mps")
    return text


def assignment(text: str) -> str:
    """A ``type=`` validator: ``KEY=VALUE`` with a non-empty key."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise _fail(f"{text!r} is not KEY=VALUE")
    return text


def existing_file(text: str) -> Path:
    """A ``type=`` validator: a path to an existing, readable regular file (a FIFO or device is refused:
    reading one could block forever or never end)."""
    path = Path(text)
    if not path.exists():
        raise _fail(f"{text}: no such file")
    if path.is_dir():
        raise _fail(f"{text}: is a folder, not a file")
    if not path.is_file():
        raise _fail(f"{text}: not a regular file (a FIFO, device or socket)")
    if not os.access(path, os.R_OK):
        raise _fail(f"{text}: not readable")
    return path


def existing_dir(text: str) -> Path:
    """A ``type=`` validator: a path to an existing folder."""
    path = Path(text)
    if not path.is_dir():
        raise _fail(f"{text}: no such folder")
    return path


def netx_file(text: str) -> Path:
    """A ``type=`` validator: an existing HDF5 file (its signature is checked, not yet its layers)."""
    path = existing_file(text)
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise _fail(f"{text}: not a netx HDF5 file (no HDF5 signature)")
    return path


def checkpoint_file(text: str) -> Path:
    """A ``type=`` validator: an existing checkpoint in ``torch.save``'s zip format (as training writes)."""
    path = existing_file(text)
    if not zipfile.is_zipfile(path):
        raise _fail(f"{text}: not a PyTorch checkpoint (training.train writes zip archives with torch.save)")
    return path


def output_file(text: str) -> Path:
    """A ``type=`` validator: a file that can be written in an existing folder (:func:`io_utils.check_writable`)."""
    try:
        return check_writable(text)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def output_dir(text: str) -> Path:
    """A ``type=`` validator: a folder that exists and is writable, or can be created (the command creates
    it when it starts writing; checking creates nothing)."""
    path = Path(text)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{text}: {existing} is a file, not a folder")
        check_writable(existing / ".lava-ternary-write-check")
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    return path


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The options that say which samples feed a network and how (``--dataset`` .. ``--input-message-bits``),
    one definition for ``run``, ``evaluate`` and ``report``; :func:`resolve_run` checks them against the file."""
    parser.add_argument("--dataset", default="digits", help="digits (default), mnist5k, mnist, fashion-mnist, "
                                                            "cifar10, cifar100, nmnist or npz:PATH")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--encoding", default="direct", choices=("direct", "rate"))
    parser.add_argument("--signed", action="store_true", help="signed rate/event input (ternary networks)")
    parser.add_argument("--root", type=existing_dir, default=None, help="folder of the local datasets")
    parser.add_argument("--input-shape", type=shape, default=None,
                        help="C,H,W the network expects, if not the dataset's (also the input of a file "
                             "without an input layer)")
    parser.add_argument("--input-message-bits", type=message_bits, default=None,
                        help=f"graded input bits, 1..{MAX_MESSAGE_BITS} (default: from the input range)")


def warn(prog: str, message: str) -> None:
    """One warning line on stderr."""
    print(f"{prog}: warning: {message}", file=sys.stderr)


def needed_message_bits(max_level: int, signed: bool) -> int:
    """Bits a graded message needs for inputs in ``-max_level..max_level`` (signed) or ``0..max_level``."""
    return max(1, int(max_level).bit_length()) + int(signed)


@dataclass(frozen=True)
class RunSettings:
    """What a simulation of a dataset through a network runs with, after :func:`resolve_run`."""

    #: the network file's layers (:class:`lava_ternary.netfile.NetSpec`)
    spec: object
    #: the dataset's :class:`training.data.DatasetInfo`
    info: object
    #: ``(C, H, W)`` or ``(N,)`` the network is fed
    input_shape: Tuple[int, ...]
    #: zero-input steps appended to every sample
    latency: int
    #: graded input message bits
    message_bits: int
    #: output neurons per class
    population: int


def resolve_run(prog: str, args: argparse.Namespace, *, population: Optional[int] = None,
                latency: Optional[int] = None) -> RunSettings:
    """Read the network file and the dataset's description; check the run arguments against both.

    ``args`` holds ``net`` and ``dataset`` and, where the subcommand has them, ``encoding``, ``signed``,
    ``input_shape``, ``latency``, ``input_message_bits`` and ``population``.
    ``population`` and ``latency`` are defaults from elsewhere (a checkpoint). Raises
    :class:`ArgumentCheckError` (or the network's :class:`~lava_ternary.errors.NetxFormatError`) for
    values that cannot give a meaningful result; warns about a latency shorter than the network's depth.
    """
    from lava_ternary.netfile import read_network
    from training.data import dataset_info

    try:
        info = dataset_info(args.dataset, getattr(args, "encoding", "direct"), bool(getattr(args, "signed", False)))
    except ValueError as exc:
        raise ArgumentCheckError(f"--dataset: {exc}") from None
    given = getattr(args, "input_shape", None)
    data_size = math.prod(info.shape)
    if given is not None and math.prod(given) != data_size:
        raise ArgumentCheckError(f"--input-shape {','.join(map(str, given))} holds {math.prod(given)} values per "
                                 f"step but {info.name} samples {tuple(info.shape)} hold {data_size}")
    spec = read_network(args.net, given or tuple(info.shape))
    net_in = tuple(spec.input_shape)
    wanted = tuple(given or info.shape)
    if math.prod(net_in) != data_size:
        source = "--input-shape" if given is not None else f"{info.name} samples"
        raise ArgumentCheckError(f"{args.net}: the network takes input {net_in} ({math.prod(net_in)} values per "
                                 f"step), {source} {wanted} hold {data_size}")
    depth = sum(1 for layer in spec if layer.neuron is not None)
    lat = getattr(args, "latency", None)
    lat = (depth if latency is None else int(latency)) if lat is None else lat
    if lat < depth:
        warn(prog, f"--latency {lat} is shorter than the network's {depth} neuron layers: the readout over the "
                   f"last T steps misses the last {depth - lat} step(s) of the network's response to every "
                   f"sample, so the accuracy will be lower than deployed")
    encoding = getattr(args, "encoding", "direct")
    # signed spikes come from rate encoding and event data only; direct input is the non-negative pixel level
    signed = getattr(args, "signed", False) and (encoding == "rate" or info.pixel_levels == 0)
    needed = needed_message_bits(info.max_level, signed)
    bits = getattr(args, "input_message_bits", None)
    if bits is None:
        bits = needed
    elif bits < needed:
        span = f"-{info.max_level}..{info.max_level}" if signed else f"0..{info.max_level}"
        raise ArgumentCheckError(f"--input-message-bits {bits} cannot carry {info.name}'s input range {span} "
                                 f"(needs {needed} bits; larger values would wrap); leave it unset or use >= {needed}")
    pop = getattr(args, "population", None)
    pop = (1 if population is None else int(population)) if pop is None else pop
    outputs = int(spec.output_shape[0])
    if outputs % pop or outputs // pop != info.num_classes:
        hint = f"; use --population {outputs // info.num_classes}" if outputs % info.num_classes == 0 else ""
        raise ArgumentCheckError(f"--population {pop}: the network's {outputs} output neurons are not {info.name}'s "
                                 f"{info.num_classes} classes x {pop} neuron(s) per class{hint}")
    return RunSettings(spec, info, wanted, lat, bits, pop)


def cap_samples(prog: str, option: str, requested: Optional[int], available: int) -> int:
    """``min(requested, available)``, with a warning when ``requested`` exceeds what the split holds."""
    if requested is None:
        return available
    if requested > available:
        warn(prog, f"{option} {requested}: the split holds {available} samples; using all {available}")
    return min(requested, available)
