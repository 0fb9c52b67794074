"""Per-layer activity, operations, energy and Loihi 2 fit of a deployed netx network (terminal, JSON, PNG).

Usage: ``python -m deploy.report NET --dataset digits [--samples 200] [--out results/report]
[--compare BINARY.net]`` (also ``lava-ternary report ...``). The activity comes from the fast bit-exact
simulator on the first ``--samples`` samples of the split. ``--compare`` adds the paper's Table 5
(binary versus ternary). Constants (``lava_ternary.hardware``) are overridden with
``--energy paper.sop_j=7.7e-14`` and ``--loihi neurons_per_core=4096``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Optional

from lava_ternary import cliargs, hardware
from lava_ternary.commands import OneLineParser, guarded

PROG = "lava-ternary report"


def build_parser() -> OneLineParser:
    """The command-line arguments (each checked on parsing: :mod:`lava_ternary.cliargs`)."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file (the ternary network)")
    parser.add_argument("--compare", type=cliargs.netx_file, default=None,
                        help="a second netx file (the binary network)")
    cliargs.add_input_options(parser)
    parser.add_argument("--samples", type=cliargs.positive_int, default=200, help="samples to simulate")
    parser.add_argument("--timesteps", "-T", type=cliargs.positive_int, default=4, help="input steps per sample")
    parser.add_argument("--latency", type=cliargs.nonneg_int, default=None,
                        help="zero-input steps appended (default: one per neuron layer)")
    parser.add_argument("--population", type=cliargs.positive_int, default=1,
                        help="output neurons per class (accuracy)")
    parser.add_argument("--chip", default="loihi2", choices=sorted(hardware.CHIPS), help="loihi2 (default) or loihi1")
    parser.add_argument("--energy", action="append", default=[], metavar="CONV.FIELD=VALUE", type=cliargs.assignment,
                        help="override an energy constant, e.g. paper.sop_j=7.7e-14 (repeatable)")
    parser.add_argument("--loihi", action="append", default=[], metavar="FIELD=VALUE", type=cliargs.assignment,
                        help="override a chip constant, e.g. neurons_per_core=4096 (repeatable)")
    parser.add_argument("--out", type=cliargs.output_dir, default="results/report",
                        help="folder for report.json and report.png (default results/report)")
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
    conventions = dict(hardware.ENERGY_CONVENTIONS)
    for key, value in _assignments(args.energy, "--energy").items():
        name, _, field = key.partition(".")
        if name not in conventions or not field:
            raise ValueError(f"--energy: {key!r} must be CONVENTION.FIELD with CONVENTION in {sorted(conventions)}")
        conventions[name] = hardware.override(conventions[name], {field: value})
    chip = hardware.override(hardware.CHIPS[args.chip], _assignments(args.loihi, "--loihi"))
    return list(conventions.values()), chip


def check_file(path: Path, args) -> cliargs.RunSettings:
    """The run settings of ``path`` under ``args``, checked against the network and the dataset."""
    return cliargs.resolve_run(PROG, argparse.Namespace(**{**vars(args), "net": path}))


def analyze_file(path: Path, args, conventions, chip, run: cliargs.RunSettings):
    """Simulate the first samples of the split through ``path`` and build its report (with accuracy)."""
    import numpy as np

    from lava_ternary import report, sim
    from lava_ternary.parity import default_message_bits
    from training.data import load_split

    data = load_split(args.dataset, args.split, args.timesteps, encoding=args.encoding, signed=args.signed,
                      root=args.root)
    layers = sim.compile_network(path, run.input_shape)
    latency = run.latency
    count = cliargs.cap_samples(PROG, "--samples", args.samples, len(data))
    x, labels = data.batch(range(count))
    x = x.numpy().astype(np.int64).reshape((count,) + run.input_shape + (args.timesteps,))
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, latency)])
    bits = args.input_message_bits if args.input_message_bits is not None else default_message_bits(x)
    result = sim.simulate(layers, x, input_message_bits=bits)
    rep = report.analyze(layers, x, input_message_bits=bits, conventions=conventions, chip=chip, result=result)
    rep.network = str(path)
    rep.latency = latency
    pred = sim.predictions(result.output, skip=latency, population=run.population)
    rep.accuracy = float(np.mean(pred == labels.numpy()))
    return rep


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print the table (and Table 5 with ``--compare``), write JSON and PNG."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        conventions, chip = constants(args)
        runs = {path: check_file(path, args) for path in (args.net, args.compare) if path is not None}
        from lava_ternary import report

        rep = analyze_file(args.net, args, conventions, chip, runs[args.net])
        print(report.format_table(rep))
        comparison = None
        if args.compare is not None:
            other = analyze_file(args.compare, args, conventions, chip, runs[args.compare])
            comparison = report.compare(other, rep, conventions[0])
            print()
            print(f"binary: {args.compare}  ternary: {args.net}  ({conventions[0].name} convention)")
            print(report.format_comparison(comparison))
        args.out.mkdir(parents=True, exist_ok=True)  # the report folder is created (io_utils)
        json_path = report.write_json_report(rep, args.out / "report.json", comparison)
        png_path = report.plot(rep, args.out / "report.png")
        print(f"wrote {json_path} and {png_path}")
        return 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
