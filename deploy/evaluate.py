"""Full test-set accuracy of a deployed netx network with the fast bit-exact simulator.

Usage: ``python -m deploy.evaluate NET --dataset digits [--timesteps 4] [--split test]`` (also
``lava-ternary evaluate ...``). Every sample runs ``T + latency`` steps (``latency``: one step per
neuron layer, the deployed network's delay) from the reset state, exactly as the Lava run with
``reset_interval`` does; the class is the output's spike count over the last ``T`` steps (the training
readout). Prints the accuracy; ``--json`` writes it with the counts.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser, guarded

PROG = "lava-ternary evaluate"


def build_parser() -> OneLineParser:
    """The command-line arguments (each checked on parsing: :mod:`lava_ternary.cliargs`)."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", type=cliargs.netx_file, help="netx HDF5 file")
    cliargs.add_input_options(parser)
    parser.add_argument("--timesteps", "-T", type=cliargs.positive_int, default=4, help="input steps per sample")
    parser.add_argument("--latency", type=cliargs.nonneg_int, default=None,
                        help="extra zero-input steps per sample (default: the number of neuron layers)")
    parser.add_argument("--population", type=cliargs.positive_int, default=1, help="output neurons per class")
    parser.add_argument("--batch-size", type=cliargs.positive_int, default=256)
    parser.add_argument("--limit", type=cliargs.positive_int, default=None, help="evaluate only the first N samples")
    parser.add_argument("--json", type=cliargs.output_file, default=None, help="write the result as JSON here")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def evaluate(args) -> dict:
    """Simulate the split through the network; return accuracy, counts and timing."""
    run = cliargs.resolve_run(PROG, args)
    import numpy as np
    from tqdm import tqdm

    from lava_ternary import sim
    from training.data import load_split

    data = load_split(args.dataset, args.split, args.timesteps, encoding=args.encoding, signed=args.signed,
                      root=args.root)
    total = cliargs.cap_samples(PROG, "--limit", args.limit, len(data))
    layers = sim.compile_network(args.net, run.input_shape)
    latency, bits = run.latency, run.message_bits
    correct, start = 0, time.perf_counter()
    with tqdm(total=total, unit="sample", desc=f"evaluate {Path(args.net).name}", disable=args.quiet) as bar:
        for lo in range(0, total, args.batch_size):
            x, labels = data.batch(range(lo, min(total, lo + args.batch_size)))
            x = x.numpy().astype(np.int64).reshape((len(labels),) + run.input_shape + (args.timesteps,))
            x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, latency)])
            out = sim.simulate(layers, x, input_message_bits=bits, record="last").output
            pred = sim.predictions(out, skip=latency, population=run.population)
            correct += int((pred == labels.numpy()).sum())
            bar.update(len(labels))
            bar.set_postfix(accuracy=f"{correct / (lo + len(labels)):.4f}")
    seconds = time.perf_counter() - start
    return {"net": str(args.net), "dataset": args.dataset, "split": args.split, "samples": total,
            "timesteps": args.timesteps, "latency": latency, "steps_per_sample": args.timesteps + latency,
            "correct": correct, "accuracy": correct / total, "seconds": seconds,
            "samples_per_s": total / seconds if seconds else float("inf")}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print the accuracy (and write JSON when asked); bad input exits 2 with one line."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        from lava_ternary.io_utils import write_json

        result = evaluate(args)
        print(f"{result['net']}: {result['dataset']} {result['split']} accuracy {result['accuracy']:.4f} "
              f"({result['correct']}/{result['samples']}), {result['timesteps']} input steps + {result['latency']} "
              f"latency steps per sample, "
              f"{result['samples_per_s']:.0f} samples/s")
        if args.json is not None:
            write_json(args.json, result)
        return 0
    return guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
