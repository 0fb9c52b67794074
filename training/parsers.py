"""The argument parsers of ``training.train`` and ``training.convert_digits``, importable without torch or lava.

``lava-ternary train`` and ``lava-ternary convert`` parse with these before the scripts (and torch,
lava-dl) are imported, so a bad argument is answered at once with one line and exit code 2. Names
defined by heavy modules (models, neurons, conversion methods, configurations, datasets) are checked
by the scripts right after their imports (:func:`check_name`), before any data is loaded.
"""
from __future__ import annotations

import argparse
from typing import Iterable, Sequence

from lava_ternary import cliargs
from lava_ternary.commands import OneLineParser

SCHEDULES = ("cosine", "step", "none")


def train_parser(prog: str = "lava-ternary train") -> OneLineParser:
    """The command-line options of training (``lava-ternary train``, ``python -m training.train``)."""
    p = OneLineParser(prog=prog, description="Train a ternary / binary SNN with SLAYER (lava-dl) and export the "
                                             "best checkpoint to netx.")
    p.add_argument("--dataset", default="digits",
                   help="digits (default), mnist5k, mnist, fashion-mnist, cifar10, cifar100, nmnist or npz:PATH")
    p.add_argument("--data-root", type=cliargs.existing_dir, default=None,
                   help="folder of the local datasets (default $LAVA_TERNARY_DATA or ./data)")
    p.add_argument("--no-verify-checksums", dest="verify_checksums", action="store_false",
                   help="do not check CIFAR files against torchvision's published md5 sums (re-packed copies)")
    p.add_argument("--model", default="digits-conv", help="digits-conv (default), mlp, vgg, resnet19 or resnet20")
    p.add_argument("--width", type=cliargs.positive_int, default=None,
                   help="base width of the model (model default if omitted)")
    p.add_argument("--population", type=cliargs.positive_int, default=10, help="output neurons per class")
    p.add_argument("--neuron", default="ternary", help="binary, ternary (default) or ternary-learned")
    p.add_argument("--surrogate", default="ste", choices=("ste", "exp"))
    p.add_argument("--timesteps", "-T", type=cliargs.positive_int, default=4, help="input steps T per sample")
    p.add_argument("--encoding", default="direct", choices=("direct", "rate"))
    p.add_argument("--epochs", type=cliargs.positive_int, default=10)
    p.add_argument("--batch-size", type=cliargs.positive_int, default=32, help="per-process batch size")
    p.add_argument("--lr", type=cliargs.positive_float, default=5e-3)
    p.add_argument("--schedule", default="cosine", choices=SCHEDULES)
    p.add_argument("--weight-decay", type=cliargs.nonneg_float, default=0.0)
    p.add_argument("--logit-scale", type=cliargs.positive_float, default=8.0,
                   help="cross-entropy logits are the class spike counts times logit-scale / (T * population)")
    p.add_argument("--seed", type=cliargs.seed, default=0)
    p.add_argument("--device", type=cliargs.device, default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--threads", type=cliargs.positive_int, default=1,
                   help="torch CPU threads (1 is fastest on a shared 2-core machine and keeps runs reproducible)")
    p.add_argument("--train-limit", type=cliargs.positive_int, default=None,
                   help="use only the first N training samples")
    p.add_argument("--out", type=cliargs.output_dir, default="runs/default",
                   help="output folder (checkpoints, result.json, model.net)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--stop-after", type=cliargs.positive_int, default=None,
                   help="stop after this many epochs in this invocation (continue later with --resume)")
    p.add_argument("--no-export", action="store_true", help="skip the netx export at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def convert_parser(prog: str = "lava-ternary convert") -> OneLineParser:
    """The command-line options of the conversion experiment (``lava-ternary convert``)."""
    p = OneLineParser(prog=prog, description="ANN-to-SNN conversion experiment: thresholds by method and latency, "
                                             "then calibration (Bojkovic et al.).")
    p.add_argument("--config", default="digits", help="digits (default), mnist5k or cifar10-vgg16")
    p.add_argument("--dataset", default=None,
                   help="override the configuration's dataset: a registered name or npz:PATH")
    p.add_argument("--seeds", type=cliargs.seed, nargs="+", default=[0, 1, 2])
    p.add_argument("--timesteps", type=cliargs.positive_int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--methods", nargs="+", default=None,
                   help="threshold methods (default: all of max, p99.9, paper, exact, exact-channel, signed)")
    p.add_argument("--calibrate", nargs="+", default=["exact"], help="methods to calibrate (default exact)")
    p.add_argument("--calib-timesteps", type=cliargs.positive_int, nargs="+", default=[1, 2, 3, 4, 8],
                   help="latencies of the calibration, in training order (each starts from the previous one)")
    p.add_argument("--ann-epochs", type=cliargs.positive_int, default=None,
                   help="override the configuration's ANN epochs")
    p.add_argument("--train-limit", type=cliargs.positive_int, default=None,
                   help="use only the first N training samples")
    p.add_argument("--test-limit", type=cliargs.positive_int, default=None, help="use only the first N test samples")
    p.add_argument("--calib-epochs", type=cliargs.nonneg_int, nargs=2, default=[6, 3],
                   help="epochs of the two calibration stages")
    p.add_argument("--calib-samples", type=cliargs.positive_int, default=3000,
                   help="calibration set size (the paper: 3000)")
    p.add_argument("--data-root", type=cliargs.existing_dir, default=None)
    p.add_argument("--out", type=cliargs.output_dir, default=None, help="output folder (default results/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def build_parser(command: str) -> OneLineParser:
    """The parser of ``lava-ternary COMMAND`` (``train`` or ``convert``), as :mod:`lava_ternary.commands` asks."""
    return {"train": train_parser, "convert": convert_parser}[command]()


def check_name(parser: argparse.ArgumentParser, option: str, values: Iterable[str], allowed: Sequence[str]) -> None:
    """``parser.error`` (one line, exit 2) unless every value of ``option`` is one of ``allowed``."""
    values = [values] if isinstance(values, str) else list(values)
    for value in values:
        if value not in allowed:
            parser.error(f"argument {option}: {value!r} is not one of {', '.join(allowed)}")
