"""Per-layer activity, operations, energy and Loihi 2 fit of a deployed netx network (terminal, JSON, PNG).

Usage: ``python -m deploy.report NET --dataset digits [--samples 200] [--out results/report]
[--compare BINARY.net]`` (also ``lava-ternary report ...``). The activity comes from the fast bit-exact
simulator on the first ``--samples`` samples of the split. ``--compare`` adds the paper's Table 5
(binary versus ternary). Constants (``lava_ternary.hardware``) are overridden with
``--energy paper.sop_j=7.7e-14`` and ``--loihi neurons_per_core=4096``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from lava_ternary.commands import OneLineParser, guarded, parse_ints


def build_parser() -> OneLineParser:
    """The command-line arguments."""
    parser = OneLineParser(prog="lava-ternary report", description=__doc__.splitlines()[0])
    parser.add_argument("net", type=Path, help="netx HDF5 file (the ternary network)")
    parser.add_argument("--compare", type=Path, default=None, help="a second netx file (the binary network)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--samples", type=int, default=200, help="samples to simulate")
    parser.add_argument("--timesteps", "-T", type=int, default=4)
    parser.add_argument("--latency", type=int, default=None, help="zero-input steps appended (default: one per "
                                                                  "neuron layer)")
    parser.add_argument("--population", type=int, default=1, help="output neurons per class (accuracy)")
    parser.add_argument("--encoding", default="direct", choices=("direct", "rate"))
    parser.add_argument("--signed", action="store_true")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--input-shape", default=None, help="C,H,W for files without an input layer")
    parser.add_argument("--input-message-bits", type=int, default=None)
    parser.add_argument("--chip", default="loihi2", help="loihi2 (default) or loihi1")
    parser.add_argument("--energy", action="append", default=[], metavar="CONV.FIELD=VALUE",
                        help="override an energy constant, e.g. paper.sop_j=7.7e-14 (repeatable)")
    parser.add_argument("--loihi", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a chip constant, e.g. neurons_per_core=4096 (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("results") / "report",
                        help="folder for report.json and report.png")
    return parser


def _assignments(items: List[str], option: str) -> Dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{option}: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def constants(args):
    """The energy conventions and the chip, with the command-line overrides applied."""
    from lava_ternary import hardware

    conventions = dict(hardware.ENERGY_CONVENTIONS)
    for key, value in _assignments(args.energy, "--energy").items():
        name, _, field = key.partition(".")
        if name not in conventions or not field:
            raise ValueError(f"--energy: {key!r} must be CONVENTION.FIELD with CONVENTION in {sorted(conventions)}")
        conventions[name] = hardware.override(conventions[name], {field: value})
    if args.chip not in hardware.CHIPS:
        raise ValueError(f"--chip: {args.chip!r} is not one of {sorted(hardware.CHIPS)}")
    chip = hardware.override(hardware.CHIPS[args.chip], _assignments(args.loihi, "--loihi"))
    return list(conventions.values()), chip


def analyze_file(path: Path, args, conventions, chip):
    """Simulate the first samples of the split through ``path`` and build its report (with accuracy)."""
    from lava_ternary import report, sim
    from lava_ternary.parity import default_message_bits
    from training.data import load_split

    if args.samples < 1 or args.timesteps < 1:
        raise ValueError("--samples and --timesteps must be >= 1")
    data = load_split(args.dataset, args.split, args.timesteps, encoding=args.encoding, signed=args.signed,
                      root=args.root)
    shape = parse_ints(args.input_shape) or list(data.info.shape)
    layers = sim.compile_network(path, tuple(shape))
    latency = sum(1 for layer in layers if layer.neuron is not None) if args.latency is None else args.latency
    x, labels = data.batch(range(min(args.samples, len(data))))
    x = np.pad(x.numpy().astype(np.int64), [(0, 0)] * (x.dim() - 1) + [(0, latency)])
    bits = args.input_message_bits if args.input_message_bits is not None else default_message_bits(x)
    result = sim.simulate(layers, x, input_message_bits=bits)
    rep = report.analyze(layers, x, input_message_bits=bits, conventions=conventions, chip=chip, result=result)
    rep.network = str(path)
    pred = sim.predictions(result.output, skip=latency, population=args.population)
    rep.accuracy = float(np.mean(pred == labels.numpy()))
    return rep


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print the table (and Table 5 with ``--compare``), write JSON and PNG."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        from lava_ternary import report

        conventions, chip = constants(args)
        rep = analyze_file(args.net, args, conventions, chip)
        print(report.format_table(rep))
        comparison = None
        if args.compare is not None:
            other = analyze_file(args.compare, args, conventions, chip)
            comparison = report.compare(other, rep, conventions[0])
            print()
            print(f"binary: {args.compare}  ternary: {args.net}  ({conventions[0].name} convention)")
            print(report.format_comparison(comparison))
        args.out.mkdir(parents=True, exist_ok=True)  # the report folder is created (io_utils)
        json_path = report.write_json_report(rep, args.out / "report.json", comparison)
        png_path = report.plot(rep, args.out / "report.png")
        print(f"wrote {json_path} and {png_path}")
        return 0
    return guarded("lava-ternary report", body)


if __name__ == "__main__":
    raise SystemExit(main())
