"""Ablation of the paper's Table 1 at this machine's scale: binary vs ternary vs ternary-learned, T = 1, 2, 4.

``python -m training.study [--seeds 3 --epochs 4 --out results]`` trains the digits conv SNN for every
(neuron, T, seed) with the same budget and hyper-parameters and writes ``results/study.json``
(``lava_accuracy`` from the bit-exact Lava fixed-point simulator :mod:`lava_ternary.sim`),
``results/study.md`` (mean ± std table, firing statistics), ``results/study_curves.png`` and
``results/study_membrane.png`` (per-layer membrane potentials of a trained net, the paper's Fig. 2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

import lava_ternary  # noqa: F401
from lava_ternary.io_utils import atomic_path, write_json
from training import checkpoint, data, models, train

TIMESTEPS = (1, 2, 4)
#: Study configurations: dataset, model, device and the suffix of the result files (digits keeps ``study.*``).
CONFIGS = {
    "digits": {"dataset": "digits", "model": "digits-conv", "device": "cpu", "suffix": ""},
    "mnist": {"dataset": "mnist", "model": "digits-conv", "device": "cpu", "suffix": "_mnist"},
    "cifar10": {"dataset": "cifar10", "model": "vgg", "device": "cuda", "suffix": "_cifar10"},
}


def lava_accuracy(run_dir: Path, dataset: str = "digits", root: Optional[str] = None) -> float:
    """Test accuracy of the exported ``model.net`` in the fast simulator, bit-exact with Lava ``fixed_pt``.

    :mod:`lava_ternary.sim` is checked spike for spike against Lava in ``tests/test_sim.py``; running
    27 networks x 360 samples through Lava itself would take most of an hour on this machine.
    """
    from lava_ternary.sim import core
    model, meta = checkpoint.load_model(run_dir / "best.pt")
    test = data.load_split(dataset, "test", meta["timesteps"], signed=model.config["neuron"] != "binary", root=root)
    x, y = test.batch(range(len(test)))
    padded = torch.nn.functional.pad(x, (0, model.latency)).numpy().astype(np.int64)
    spikes = core.simulate(core.compile_network(run_dir / "model.net"), padded, input_message_bits=8).output
    pred = model.readout(torch.from_numpy(spikes.astype(np.int64))).argmax(1)
    return int((pred == y).sum()) / len(y)


@torch.no_grad()
def layer_activity(model: models.SpikingNet, x: torch.Tensor) -> List[Dict[str, Any]]:
    """Per spiking layer: membrane potentials (pre-reset voltages) and the fractions of +1, -1 and 0 spikes."""
    records: List[Dict[str, Any]] = []

    def hook(neuron, inputs, output):
        voltage = neuron.dynamics(*inputs)[1]
        b = torch.sign(output)
        records.append({"voltage": voltage.flatten().numpy(), "plus": float((b > 0).float().mean()),
                        "minus": float((b < 0).float().mean()), "zero": float((b == 0).float().mean())})

    handles = [b.neuron.register_forward_hook(hook) for b in model.spiking_blocks()]
    model(x)
    for h in handles:
        h.remove()
    return records


def _save_png(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the study and write the result files."""
    p = argparse.ArgumentParser(prog="python -m training.study", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--out", default="results")
    p.add_argument("--work", default="runs/study")
    p.add_argument("--config", default="digits", choices=sorted(CONFIGS),
                   help="digits (default, CPU), mnist (needs --data-root), cifar10 (VGG, needs --data-root and a GPU)")
    p.add_argument("--data-root", default=None, help="folder of the local datasets (MNIST/, cifar-10-batches-py/)")
    p.add_argument("--device", default=None, help="override the configuration's device")
    args = p.parse_args(argv)
    cfg = CONFIGS[args.config]
    device = args.device or cfg["device"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, work = Path(args.out), Path(args.work)
    runs, curves, activity = [], {}, {}
    for neuron in models.NEURONS:
        for t in TIMESTEPS:
            for seed in range(args.seeds):
                run_dir = work / f"{neuron}-T{t}-s{seed}"
                argv_run = ["--neuron", neuron, "--timesteps", str(t), "--epochs", str(args.epochs), "--seed",
                            str(seed), "--out", str(run_dir), "--quiet", "--dataset", cfg["dataset"],
                            "--model", cfg["model"], "--device", device]
                if args.data_root:
                    argv_run += ["--data-root", args.data_root]
                if args.train_limit:
                    argv_run += ["--train-limit", str(args.train_limit)]
                result = train.train(train.build_parser().parse_args(argv_run))
                runs.append({"neuron": neuron, "timesteps": t, "seed": seed,
                             "test_accuracy": result["test_accuracy"], "lava_accuracy": lava_accuracy(run_dir, cfg["dataset"], args.data_root),
                             "seconds_per_epoch": float(np.mean(result["seconds_per_epoch"]))})
                print(runs[-1], flush=True)
                if seed == 0:
                    curves[(neuron, t)] = result["curves"]
                    if t == TIMESTEPS[-1]:
                        model, _ = checkpoint.load_model(run_dir / "best.pt")
                        test = data.load_split(cfg["dataset"], "test", t, signed=neuron != "binary",
                                               root=args.data_root)
                        activity[neuron] = layer_activity(model, test.batch(range(min(200, len(test))))[0])
    write_json(out / f"study{cfg['suffix']}.json", {"runs": runs})

    lines = [f"# Ternary vs binary spikes on {cfg['dataset']} ({cfg['model']} SNN, same budget)", "",
             f"{args.epochs} epochs, {args.seeds} seeds; test accuracy mean ± std (PyTorch / deployed netx file in the fast simulator, bit-exact with Lava fixed_pt).", "",
             "| neuron | " + " | ".join(f"T={t}" for t in TIMESTEPS) + " |", "|---|" + "---|" * len(TIMESTEPS)]
    for neuron in models.NEURONS:
        cells = []
        for t in TIMESTEPS:
            acc = np.array([r["test_accuracy"] for r in runs if r["neuron"] == neuron and r["timesteps"] == t])
            lava = np.array([r["lava_accuracy"] for r in runs if r["neuron"] == neuron and r["timesteps"] == t])
            cells.append(f"{acc.mean():.3f} ± {acc.std():.3f} / {lava.mean():.3f}")
        lines.append(f"| {neuron} | " + " | ".join(cells) + " |")
    lines += ["", f"Firing statistics per spiking layer (T={TIMESTEPS[-1]}, seed 0, 200 test samples): +1 / -1 / 0", ""]
    for neuron, recs in activity.items():
        lines.append(f"- {neuron}: " + "; ".join(f"L{i}: {r['plus']:.3f} / {r['minus']:.3f} / {r['zero']:.3f}"
                                                 for i, r in enumerate(recs)))
    with atomic_path(out / f"study{cfg['suffix']}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, len(TIMESTEPS), figsize=(12, 3.5))
    for ax, t in zip(axes, TIMESTEPS):
        for neuron in models.NEURONS:
            ax.plot(curves[(neuron, t)]["validation"]["accuracy_log"], label=neuron)
        ax.set_title(f"T={t} validation accuracy")
        ax.set_xlabel("epoch")
    axes[0].legend()
    _save_png(fig, out / f"study_curves{cfg['suffix']}.png")
    recs = activity["ternary-learned"]
    fig, axes = plt.subplots(1, len(recs), figsize=(3 * len(recs), 3))
    for i, (ax, r) in enumerate(zip(axes, recs)):
        ax.hist(r["voltage"], bins=60)
        ax.set_title(f"layer {i} membrane potential")
    _save_png(fig, out / f"study_membrane{cfg['suffix']}.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
