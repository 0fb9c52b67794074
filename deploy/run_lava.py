"""Run a netx network on the Lava CPU simulator (fixed_pt by default), samples back to back.

Usage: ``python -m deploy.run_lava NET --samples N --timesteps T [--checkpoint CKPT]`` (also
``lava-ternary run ...``). Each sample is ``T`` input steps plus ``latency`` zero steps (default: one
per neuron layer, or the checkpoint model's ``latency``) and the network restarts every
``T + latency`` steps (``reset_interval``). Prints the accuracy (output spike count over the last
``T`` steps, the training readout). With ``--checkpoint`` it also runs the PyTorch eval forward on the
same samples and prints the mismatching spikes of every layer and the number of equal predictions;
the exit code is 1 when any spike differs.
"""
from __future__ import annotations

from typing import List, Optional

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser, guarded

PROG = "lava-ternary run"


def build_parser() -> OneLineParser:
    """The command-line arguments (each checked on parsing: :mod:`lava_ternary.cliargs`)."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file")
    parser.add_argument("--samples", "-n", type=cliargs.positive_int, default=100,
                        help="number of test samples (default 100)")
    parser.add_argument("--timesteps", "-T", type=cliargs.positive_int, default=4,
                        help="input steps per sample (default 4)")
    parser.add_argument("--checkpoint", type=cliargs.checkpoint_file, default=None,
                        help="checkpoint to compare spikes with")
    cliargs.add_input_options(parser)
    parser.add_argument("--latency", type=cliargs.nonneg_int, default=None,
                        help="zero steps appended to every sample (default: the checkpoint's, else one per "
                             "neuron layer)")
    parser.add_argument("--tag", default="fixed_pt", choices=("fixed_pt", "floating_pt"),
                        help="model of the TERNARY neurons (synapses are always fixed_pt)")
    parser.add_argument("--population", type=cliargs.positive_int, default=None,
                        help="output neurons per class (default: the checkpoint's, else 1)")
    parser.add_argument("--chunk", type=cliargs.positive_int, default=None,
                        help="steps per Lava run call (progress granularity; default 10 samples)")
    parser.add_argument("--json", type=cliargs.output_file, default=None, help="write the result as JSON here")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def run(args) -> dict:
    """Simulate the samples on Lava (and torch when a checkpoint is given); return the numbers."""
    import numpy as np

    model = None
    if args.checkpoint is not None:
        from training.checkpoint import load_model
        model, _ = load_model(args.checkpoint)
    settings = cliargs.resolve_run(
        PROG, args, latency=getattr(model, "latency", None),
        population=getattr(model, "config", {}).get("population") if model is not None else None)
    from lava_ternary import parity
    from training.data import load_split

    latency, population = settings.latency, settings.population
    data = load_split(args.dataset, args.split, args.timesteps, encoding=args.encoding, signed=args.signed,
                      root=args.root)
    count = cliargs.cap_samples(PROG, "--samples", args.samples, len(data))
    x, labels = data.batch(range(count))
    x = x.numpy().reshape((count,) + settings.input_shape + (args.timesteps,))
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, latency)])
    steps = args.timesteps + latency
    lava = parity.run_lava(args.net, x, neuron_tag=args.tag, input_message_bits=args.input_message_bits,
                           chunk=args.chunk or 10 * steps, progress=not args.quiet,
                           input_shape=None if settings.spec.layers[0].type == "input" else settings.input_shape)
    labels = labels.numpy()
    pred = lava.predictions(skip=latency, population=population)
    result = {"net": str(args.net), "samples": count, "timesteps": args.timesteps, "latency": latency,
              "steps_per_sample": steps, "tag": args.tag, "accuracy": float(np.mean(pred == labels)),
              "build_s": lava.build_s, "compile_s": lava.compile_s, "run_s": lava.run_s,
              "ms_per_step": 1000 * lava.run_s / max(lava.steps - 1, 1)}
    if model is not None:
        import torch

        reference = parity.torch_layer_outputs(model.blocks, torch.from_numpy(x).float())
        comparison = parity.compare(lava, reference, skip=latency, population=population)
        result.update({"mismatches": comparison.mismatches, "spikes": comparison.spikes,
                       "total_mismatches": comparison.total_mismatches,
                       "classes_equal": comparison.classes_equal,
                       "torch_accuracy": float(np.mean(parity.predictions(reference[-1], latency, population)
                                                       == labels))})
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print accuracy and parity; exit 1 on a spike mismatch, 2 on bad input."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        from lava_ternary.io_utils import write_json

        r = run(args)
        print(f"{r['net']}: Lava {r['tag']} accuracy {r['accuracy']:.4f} on {r['samples']} samples, "
              f"{r['timesteps']} input steps + {r['latency']} latency steps per sample, first step {r['compile_s']:.1f} s, then {r['run_s']:.1f} s "
              f"({r['ms_per_step']:.2f} ms/step)")
        if "mismatches" in r:
            print(f"parity vs checkpoint: {r['total_mismatches']} mismatching spikes "
                  f"(per layer {r['mismatches']} of {r['spikes']} torch spikes), predicted classes equal "
                  f"{r['classes_equal']}/{r['samples']}, torch accuracy {r['torch_accuracy']:.4f}")
        if args.json is not None:
            write_json(args.json, r)
        return 1 if r.get("total_mismatches", 0) else 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
