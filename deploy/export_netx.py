"""Export a training checkpoint to a netx HDF5 file (folded integer weights, TERNARY neuron groups).

Usage: ``python -m deploy.export_netx CHECKPOINT OUT.net`` (also ``lava-ternary export ...``). The
checkpoint is rebuilt with ``training.checkpoint.load_model`` (no forward pass needed) and written
by :func:`lava_ternary.netx.export_hdf5` atomically; the layer table of the written file is printed.
"""
from __future__ import annotations

from typing import List, Optional

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser, guarded

PROG = "lava-ternary export"


def build_parser() -> OneLineParser:
    """The command-line arguments (checked on parsing: the checkpoint exists, the output can be written)."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=cliargs.checkpoint_file,
                        help="checkpoint written by training.train (e.g. best.pt)")
    parser.add_argument("out", type=cliargs.output_file, help="netx HDF5 file to write")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; bad input exits 2 with one line."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        from lava_ternary.netx import export_hdf5
        from lava_ternary.report import network_table
        from training.checkpoint import load_model

        model, meta = load_model(args.checkpoint)
        spec = export_hdf5(model, args.out)
        print(network_table(spec))
        latency = getattr(model, "latency", None)
        print(f"wrote {args.out}: {len(spec)} layers from {args.checkpoint} "
              f"(trained with {meta.get('timesteps', '?')} input steps + {latency} latency steps per sample)")
        return 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
