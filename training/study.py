"""Ablation of the paper's Table 1 at this machine's scale: binary vs ternary vs ternary-learned, T = 1, 2, 4.

``python -m training.study [--seeds 3 --epochs 4 --out results]`` trains the digits conv SNN for every
(neuron, T, seed) with the same budget and hyper-parameters and writes ``results/study.json``
(``lava_accuracy`` from the bit-exact Lava fixed-point simulator :mod:`lava_ternary.sim`),
``results/study.md`` (mean ± std table, firing statistics), ``results/study_curves.png`` and
``results/study_membrane.png`` (per-layer membrane potentials of a trained net, the paper's Fig. 2).

``--config mnist5k`` runs it on the embedded 5,000-image MNIST (``results/study_mnist5k.*``; the
published run: ``python -m training.study --config mnist5k --epochs 3``); ``--dataset npz:PATH`` on a
user's file (``results/study_<file stem>.*``). ``--config mnist`` and ``--config cifar10`` (VGG, on a
GPU) run the same study on a local dataset folder (``--data-root``) and write
``results/study_{mnist,cifar10}.*``; ``--device``, ``--timesteps``
and ``--width`` shrink a run (e.g. the CIFAR-10 configuration on CPU in the tests).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

import lava_ternary  # noqa: F401
from lava_ternary.commands import OneLineParser, fail, guarded
from lava_ternary.io_utils import atomic_path, write_json
from training import checkpoint, data, models, train

TIMESTEPS = (1, 2, 4)
#: Test samples per fast-simulator call in :func:`lava_accuracy`.
SIM_BATCH = 128
#: Study configurations: dataset, model, device and the suffix of the result files (digits keeps ``study.*``).
CONFIGS = {
    "digits": {"dataset": "digits", "model": "digits-conv", "device": "cpu", "suffix": ""},
    "mnist5k": {"dataset": "mnist5k", "model": "digits-conv", "device": "cpu", "suffix": "_mnist5k"},
    "mnist": {"dataset": "mnist", "model": "digits-conv", "device": "cpu", "suffix": "_mnist"},
    "cifar10": {"dataset": "cifar10", "model": "vgg", "device": "cuda", "suffix": "_cifar10"},
    "resnet-digits": {"dataset": "digits", "model": "resnet20", "device": "cpu", "suffix": "", "prefix": "resnet_study"},
    "resnet-mnist5k": {"dataset": "mnist5k", "model": "resnet20", "device": "cpu", "suffix": "_mnist5k",
                       "prefix": "resnet_study"},
}


def lava_accuracy(run_dir: Path, dataset: str = "digits", root: Optional[str] = None,
                  batch_size: int = SIM_BATCH, verify_checksums: bool = True) -> float:
    """Test accuracy of the exported ``model.net`` in the fast simulator, bit-exact with Lava ``fixed_pt``.

    :mod:`lava_ternary.sim` is checked spike for spike against Lava in ``tests/test_sim.py``; running
    27 networks x 360 samples through Lava itself would take most of an hour on this machine. The
    test split goes through in chunks of ``batch_size`` samples (TERNARY samples are independent), which
    bounds the simulator's memory on CIFAR-sized networks.
    """
    from lava_ternary.parity import default_message_bits
    from lava_ternary import sim
    model, meta = checkpoint.load_model(run_dir / "best.pt")
    test = data.load_split(dataset, "test", meta["timesteps"], signed=model.config["neuron"] != "binary", root=root,
                           verify_checksums=verify_checksums)
    layers = sim.compile_network(run_dir / "model.net")
    bits = default_message_bits(np.array([test.info.max_level]))
    correct = 0
    for start in range(0, len(test), batch_size):
        x, y = test.batch(range(start, min(start + batch_size, len(test))))
        padded = torch.nn.functional.pad(x, (0, model.latency)).numpy().astype(np.int64)
        spikes = sim.simulate(layers, padded, input_message_bits=bits, record="last").output
        correct += int((model.readout(torch.from_numpy(spikes.astype(np.int64))).argmax(1) == y).sum())
    return correct / len(test)


@torch.no_grad()
def layer_activity(model: models.SpikingNet, x: torch.Tensor) -> List[Dict[str, Any]]:
    """Per spiking layer: membrane potentials (pre-reset voltages), threshold and fractions of +1, -1 and 0 spikes."""
    records: List[Dict[str, Any]] = []

    def hook(neuron, inputs, output):
        voltage = neuron.dynamics(*inputs)[1]
        b = torch.sign(output)
        records.append({"voltage": voltage.flatten().cpu().numpy(), "threshold": float(neuron.threshold),
                        "plus": float((b > 0).float().mean()),
                        "minus": float((b < 0).float().mean()), "zero": float((b == 0).float().mean())})

    handles = [b.neuron.register_forward_hook(hook) for b in model.spiking_blocks()]
    model(x)
    for h in handles:
        h.remove()
    return records


def _save_png(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line options of ``python -m training.study``."""
    p = OneLineParser(prog="python -m training.study", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=_positive, default=3)
    p.add_argument("--epochs", type=_positive, default=4)
    p.add_argument("--timesteps", "-T", type=_positive, nargs="+", default=list(TIMESTEPS),
                   help="the values of T to compare (default 1 2 4)")
    p.add_argument("--width", type=_positive, default=None, help="base width of the model (model default if omitted)")
    p.add_argument("--train-limit", type=_positive, default=None)
    p.add_argument("--out", default="results")
    p.add_argument("--work", default="runs/study")
    p.add_argument("--config", default="digits", choices=sorted(CONFIGS),
                   help="digits (default, CPU), mnist (needs --data-root), cifar10 (VGG, needs --data-root and a GPU)")
    p.add_argument("--dataset", type=data.dataset_arg, default=None,
                   help="override the configuration's dataset: a registered name or npz:PATH (result files "
                        "study_<name or file stem>.*)")
    p.add_argument("--data-root", default=None, help="folder of the local datasets (MNIST/, cifar-10-batches-py/)")
    p.add_argument("--no-verify-checksums", dest="verify_checksums", action="store_false",
                   help="do not check CIFAR files against torchvision's published md5 sums")
    p.add_argument("--device", default=None, help="override the configuration's device (e.g. cpu)")
    p.add_argument("--jobs", type=_positive, default=1, help="trainings run in parallel processes (default 1)")
    return p


def _one_run(job: Dict[str, Any]) -> Dict[str, Any]:
    """Train and evaluate one (neuron, T, seed) of the study; seed 0 also returns its curves (and activity)."""
    torch.set_num_threads(1)
    result = train.train(train.build_parser().parse_args(job["argv"]))
    run_dir, cfg = Path(job["run_dir"]), job["cfg"]
    run = {"neuron": job["neuron"], "timesteps": job["t"], "seed": job["seed"], "test_accuracy": result["test_accuracy"],
           "lava_accuracy": lava_accuracy(run_dir, cfg["dataset"], job["data_root"],
                                          verify_checksums=job["verify_checksums"]),
           "seconds_per_epoch": float(np.mean(result["seconds_per_epoch"]))}
    print(run, flush=True)
    out: Dict[str, Any] = {"run": run, "curves": result["curves"] if job["seed"] == 0 else None, "activity": None}
    if job["seed"] == 0 and job["last_t"]:
        model, _ = checkpoint.load_model(run_dir / "best.pt")
        test = data.load_split(cfg["dataset"], "test", job["t"], signed=job["neuron"] != "binary",
                               root=job["data_root"], verify_checksums=job["verify_checksums"])
        out["activity"] = layer_activity(model, test.batch(range(min(200, len(test))))[0])
    return out


def run_study(args: argparse.Namespace, device: str) -> int:
    """Train and evaluate every (neuron, T, seed) of ``args`` (``args.jobs`` at a time); write the result files."""
    cfg = dict(CONFIGS[args.config])
    if args.dataset and args.dataset != cfg["dataset"]:
        cfg.update(dataset=args.dataset, suffix=data.result_suffix(args.dataset))
    stem = cfg.get("prefix", "study")
    timesteps = sorted(set(args.timesteps))
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for neuron in models.NEURONS:
        for t in timesteps:
            for seed in range(args.seeds):
                run_dir = work / f"{neuron}-T{t}-s{seed}"
                argv_run = ["--neuron", neuron, "--timesteps", str(t), "--epochs", str(args.epochs), "--seed",
                            str(seed), "--out", str(run_dir), "--quiet", "--dataset", cfg["dataset"],
                            "--model", cfg["model"], "--device", device]
                if args.data_root:
                    argv_run += ["--data-root", args.data_root]
                if not args.verify_checksums:
                    argv_run.append("--no-verify-checksums")
                if args.train_limit:
                    argv_run += ["--train-limit", str(args.train_limit)]
                if args.width:
                    argv_run += ["--width", str(args.width)]
                jobs.append({"neuron": neuron, "t": t, "seed": seed, "argv": argv_run, "run_dir": str(run_dir),
                             "cfg": cfg, "data_root": args.data_root, "verify_checksums": args.verify_checksums,
                             "last_t": t == timesteps[-1]})
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_one_run, jobs))
    else:
        results = [_one_run(job) for job in jobs]
    runs = [r["run"] for r in results]
    curves = {(j["neuron"], j["t"]): r["curves"] for j, r in zip(jobs, results) if r["curves"] is not None}
    activity = {j["neuron"]: r["activity"] for j, r in zip(jobs, results) if r["activity"] is not None}
    write_json(out / f"{stem}{cfg['suffix']}.json", {"runs": runs})
    lines = _table(runs, activity, cfg, timesteps, args.epochs, args.seeds, args.width)
    with atomic_path(out / f"{stem}{cfg['suffix']}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    _plot_curves(curves, timesteps, out / f"{stem}_curves{cfg['suffix']}.png")
    _plot_membrane(activity["ternary-learned"], timesteps[-1], out / f"{stem}_membrane{cfg['suffix']}.png")
    print("\n".join(lines))
    return 0


def _table(runs: List[Dict[str, Any]], activity: Dict[str, List[Dict[str, Any]]], cfg: Dict[str, str],
           timesteps: List[int], epochs: int, seeds: int, width: Optional[int] = None) -> List[str]:
    """The markdown lines of ``study*.md``: mean ± std accuracy table and firing statistics."""
    size = "" if width is None else f"width {width}, "
    epochs_text = f"{epochs} epoch" + ("" if epochs == 1 else "s")
    lines = [f"# Ternary vs binary spikes on {cfg['dataset']} ({cfg['model']} SNN, same budget)", "",
             f"{size}{epochs_text}, {seeds} seeds; test accuracy mean ± std (PyTorch / deployed netx file in the fast simulator, bit-exact with Lava fixed_pt).", "",
             "| neuron | " + " | ".join(f"T={t}" for t in timesteps) + " |", "|---|" + "---|" * len(timesteps)]
    for neuron in models.NEURONS:
        cells = []
        for t in timesteps:
            acc = np.array([r["test_accuracy"] for r in runs if r["neuron"] == neuron and r["timesteps"] == t])
            lava = np.array([r["lava_accuracy"] for r in runs if r["neuron"] == neuron and r["timesteps"] == t])
            cells.append(f"{acc.mean():.3f} ± {acc.std():.3f} / {lava.mean():.3f}")
        lines.append(f"| {neuron} | " + " | ".join(cells) + " |")
    lines += ["", f"Firing statistics per spiking layer (T={timesteps[-1]}, seed 0, 200 test samples): +1 / -1 / 0", ""]
    for neuron, recs in activity.items():
        lines.append(f"- {neuron}: " + "; ".join(f"L{i}: {r['plus']:.3f} / {r['minus']:.3f} / {r['zero']:.3f}"
                                                 for i, r in enumerate(recs)))
    return lines


def _plot_curves(curves: Dict[tuple, Dict[str, Any]], timesteps: List[int], path: Path) -> None:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(timesteps), figsize=(4 * len(timesteps), 3.5), squeeze=False,
                             layout="constrained")
    for ax, t in zip(axes[0], timesteps):
        for neuron in models.NEURONS:
            acc = curves[(neuron, t)]["validation"]["accuracy_log"]
            ax.plot(range(1, len(acc) + 1), acc, marker="o", markersize=3, label=neuron)
        ax.set_title(f"T={t} validation accuracy")
        ax.set_xlabel("epoch")
    axes[0, 0].legend()
    _save_png(fig, path)
    plt.close(fig)


def _plot_membrane(recs: List[Dict[str, Any]], timesteps: int, path: Path, max_cols: int = 6) -> None:
    """Histograms of the pre-reset membrane potential per spiking layer, with the thresholds ±θ dashed."""
    import matplotlib.pyplot as plt
    rows = -(-len(recs) // max_cols)
    cols = -(-len(recs) // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.4 * rows + 0.5), squeeze=False,
                             layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i >= len(recs):
            ax.set_axis_off()
            continue
        r = recs[i]
        ax.hist(r["voltage"], bins=60)
        for v in (-r["threshold"], r["threshold"]):
            ax.axvline(v, color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title(f"layer {i}", fontsize=10)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"Membrane potential before reset (ternary-learned, T={timesteps}); dashed: ±threshold",
                 fontsize=11)
    fig.supxlabel("membrane potential v", fontsize=10)
    fig.supylabel("count (log scale)", fontsize=10)
    _save_png(fig, path)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the study and write the result files; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    prog = "python -m training.study"
    device = args.device or CONFIGS[args.config]["device"]
    if device.startswith("cuda") and not torch.cuda.is_available():
        return fail(prog, RuntimeError(f"--config {args.config} uses device {device!r} but there is no CUDA "
                                       f"device here: pass --device cpu"))
    import matplotlib
    matplotlib.use("Agg")
    return guarded(prog, lambda: run_study(args, device))


if __name__ == "__main__":
    sys.exit(main())
