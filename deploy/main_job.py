"""The main job end to end on the digits default: train, export netx, run on Lava, report.

``make demo`` (and ``lava-ternary demo``) runs it. Each step is one of the scripts a user would run by
hand, called with the arguments shown in its log line:

1. ``training.train``: lava-dl-style SLAYER training of the default ternary conv SNN (learned
   amplitude), atomic checkpoints, netx export of the best checkpoint (``OUT/model.net``);
2. ``deploy.run_lava``: the whole digits test split on the Lava CPU simulator (``fixed_pt``), with
   accuracy and spike-for-spike parity against the PyTorch checkpoint;
3. ``deploy.evaluate``: the same test split through the fast bit-exact simulator;
4. ``deploy.report``: spikes, operations, energy and the Loihi 2 fit per layer (``report.json``/``.png``).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Callable, List, Optional, Sequence

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser


def build_parser() -> OneLineParser:
    """Arguments of the main job (each checked on parsing: :mod:`lava_ternary.cliargs`)."""
    parser = OneLineParser(prog="lava-ternary demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=cliargs.output_dir, default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--epochs", type=cliargs.positive_int, default=8)
    parser.add_argument("--timesteps", "-T", type=cliargs.positive_int, default=4, help="input steps per sample")
    parser.add_argument("--neuron", default="ternary-learned", choices=("binary", "ternary", "ternary-learned"))
    parser.add_argument("--samples", type=cliargs.positive_int, default=None,
                        help="test samples on Lava (default: the whole split)")
    parser.add_argument("--seed", type=cliargs.seed, default=0)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars in the steps")
    return parser


def _step(title: str, main: Callable[[Optional[List[str]]], int], argv: Sequence[str]) -> None:
    print(f"\n== {title}: {main.__module__} {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    code = main(list(argv))
    if code not in (0, None):
        raise SystemExit(code)
    print(f"-- {title} done in {time.perf_counter() - start:.1f} s", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the four steps; print where everything was written."""
    args = build_parser().parse_args(argv)
    from deploy import evaluate, report, run_lava
    from training import train
    from training.data import load_split

    out = args.out
    samples = args.samples or len(load_split("digits", "test", args.timesteps))
    common = ["--timesteps", str(args.timesteps)]
    quiet = ["--quiet"] if args.quiet else []
    _step("train", train.main, ["--out", str(out), "--epochs", str(args.epochs), "--neuron", args.neuron,
                                "--seed", str(args.seed), *common, *quiet])
    net = out / "model.net"
    from training.checkpoint import load_model
    population = str(load_model(out / "best.pt")[0].config.get("population", 1))
    _step("Lava CPU simulation", run_lava.main, [str(net), "--checkpoint", str(out / "best.pt"),
                                                 "--samples", str(samples), "--json", str(out / "lava.json"),
                                                 *common, *quiet])
    _step("fast bit-exact simulator", evaluate.main, [str(net), *common, *quiet, "--population", population,
                                                       "--json", str(out / "evaluate.json")])
    _step("report", report.main, [str(net), *common, "--population", population,
                                  "--out", str(out / "report")])
    lava = json.loads((out / "lava.json").read_text())
    trained = json.loads((out / "result.json").read_text())
    fast = json.loads((out / "evaluate.json").read_text())
    print(f"\nSummary on the digits test split: PyTorch {lava['torch_accuracy']:.4f} and Lava fixed_pt "
          f"{lava['accuracy']:.4f} on the same {lava['samples']} samples, {lava['total_mismatches']} mismatching "
          f"spikes, predicted classes equal {lava['classes_equal']}/{lava['samples']}; fast simulator "
          f"{fast['accuracy']:.4f} on {fast['samples']}; training-time test accuracy {trained['test_accuracy']:.4f}; "
          f"outputs in {out}/")
    return 0 if lava["total_mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
