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

import numpy as np

from lava_ternary.commands import OneLineParser, guarded, parse_ints


def build_parser() -> OneLineParser:
    """The command-line arguments."""
    parser = OneLineParser(prog="lava-ternary evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("net", type=Path, help="netx HDF5 file")
    parser.add_argument("--dataset", default="digits", help="digits (default), mnist5k, mnist, fashion-mnist, "
                                                            "cifar10, cifar100, nmnist or npz:PATH")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--timesteps", "-T", type=int, default=4, help="input steps per sample")
    parser.add_argument("--latency", type=int, default=None,
                        help="extra zero-input steps per sample (default: the number of neuron layers)")
    parser.add_argument("--encoding", default="direct", choices=("direct", "rate"))
    parser.add_argument("--signed", action="store_true", help="signed rate/event input (ternary networks)")
    parser.add_argument("--root", type=Path, default=None, help="folder of the local datasets")
    parser.add_argument("--input-shape", default=None, help="C,H,W of the input for files without an input layer "
                                                            "(default: the dataset's)")
    parser.add_argument("--input-message-bits", type=int, default=None,
                        help="graded input bits (default: from the input range)")
    parser.add_argument("--population", type=int, default=1, help="output neurons per class")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples")
    parser.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    return parser


def evaluate(args) -> dict:
    """Simulate the split through the network; return accuracy, counts and timing."""
    from tqdm import tqdm

    from lava_ternary import sim
    from lava_ternary.parity import default_message_bits
    from training.data import load_split

    if args.timesteps < 1 or args.batch_size < 1:
        raise ValueError("--timesteps and --batch-size must be >= 1")
    data = load_split(args.dataset, args.split, args.timesteps, encoding=args.encoding, signed=args.signed,
                      root=args.root)
    shape = parse_ints(args.input_shape) or list(data.info.shape)
    layers = sim.compile_network(args.net, tuple(shape))
    latency = sum(1 for layer in layers if layer.neuron is not None) if args.latency is None else args.latency
    if latency < 0:
        raise ValueError(f"--latency={latency} must be >= 0")
    total = len(data) if args.limit is None else min(len(data), args.limit)
    bits = args.input_message_bits
    if bits is None:
        bits = default_message_bits(np.array([data.info.max_level, -1 if args.signed else 0]))
    correct, start = 0, time.perf_counter()
    with tqdm(total=total, unit="sample", desc=f"evaluate {Path(args.net).name}") as bar:
        for lo in range(0, total, args.batch_size):
            x, labels = data.batch(range(lo, min(total, lo + args.batch_size)))
            x = np.pad(x.numpy().astype(np.int64), [(0, 0)] * (x.dim() - 1) + [(0, latency)])
            out = sim.simulate(layers, x, input_message_bits=bits, record="last").output
            pred = sim.predictions(out, skip=latency, population=args.population)
            correct += int((pred == labels.numpy()).sum())
            bar.update(len(labels))
            bar.set_postfix(accuracy=f"{correct / (lo + len(labels)):.4f}")
    seconds = time.perf_counter() - start
    return {"net": str(args.net), "dataset": args.dataset, "split": args.split, "samples": total,
            "timesteps": args.timesteps, "latency": latency, "correct": correct,
            "accuracy": correct / total if total else float("nan"), "seconds": seconds,
            "samples_per_s": total / seconds if seconds else float("inf")}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print the accuracy (and write JSON when asked); bad input exits 2 with one line."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        from lava_ternary.io_utils import write_json

        result = evaluate(args)
        print(f"{result['net']}: {result['dataset']} {result['split']} accuracy {result['accuracy']:.4f} "
              f"({result['correct']}/{result['samples']}), T={result['timesteps']} + latency {result['latency']}, "
              f"{result['samples_per_s']:.0f} samples/s")
        if args.json is not None:
            write_json(args.json, result)
        return 0
    return guarded("lava-ternary evaluate", body)


if __name__ == "__main__":
    raise SystemExit(main())
