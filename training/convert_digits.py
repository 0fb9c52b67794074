"""ANN-to-SNN conversion experiment: thresholds by method and latency, then calibration (Bojković et al.).

Digits (default, CPU, minutes): a small conv ANN (trained here, one per seed) converted to IF SNNs at
T = 1, 2, 4, 8, 16, 32 with thresholds from max, p99.9, paper, exact, exact-channel, signed; then the
exact conversion calibrated at T = 1, 2, 3, 4, 8 (each latency fine-tuned from the previous one).
Writes results/conversion.json, results/conversion.md and two PNGs.

``--config mnist5k`` (CPU, tens of minutes) runs the same on the embedded 5,000-image MNIST with a
pooled conv ANN and writes results/conversion_mnist5k.* (``python -m training.convert_digits --config
mnist5k --timesteps 1 2 4 8``). ``--dataset npz:PATH`` converts on a user's file with the
configuration's ANN (``results/conversion_<file stem>.*``). ``--config cifar10-vgg16`` runs VGG-16 on
CIFAR-10 (needs the local folder, see training/data.py; use a GPU).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

import lava_ternary  # noqa: F401  (lava import fix first)
from lava_ternary.convert import conversion_error, optimal_threshold
from lava_ternary.convert.activations import collect_activations, parse_ann
from lava_ternary.convert.build import ann_parameters, build_snn
from lava_ternary.convert.calibrate import calibrate, scores
from lava_ternary.convert.plans import CONVERSION_METHODS, plan_thresholds, spike_mode_of
from lava_ternary.commands import guarded
from lava_ternary.io_utils import atomic_path, write_json
from training import parsers
from training.data import load_split, resolve_dataset, result_suffix

nn = torch.nn
RESULTS = Path(__file__).resolve().parent.parent / "results"


def digits_ann(shape: Sequence[int] = (1, 8, 8), classes: int = 10) -> nn.Module:
    """Small conv ANN for 8x8 digits (BatchNorm and average pooling exercise the folds)."""
    c, h, w = shape
    return nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(32 * (h // 2) * (w // 2), 64), nn.ReLU(), nn.Linear(64, classes))


def pooled_ann(shape: Sequence[int] = (1, 28, 28), classes: int = 10) -> nn.Module:
    """Conv ANN for 28x28 images: a stride-2 first conv and 2x2 average pooling keep the converted SNN small
    enough for CPU runs (the IF network's cost grows with its neuron count)."""
    c, h, w = shape
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    return nn.Sequential(nn.Conv2d(c, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(32 * (h2 // 2) * (w2 // 2), 128), nn.ReLU(), nn.Linear(128, classes))


def vgg16_ann(shape: Sequence[int] = (3, 32, 32), classes: int = 10) -> nn.Module:
    """VGG-16 with BatchNorm and average pooling for 32x32 inputs."""
    layers, c = [], shape[0]
    for v in (64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P"):
        if v == "P":
            layers.append(nn.AvgPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, classes))


#: Configurations: dataset, ANN, its training and the suffix of the result files (digits keeps ``conversion.*``).
CONFIGS = {"digits": dict(dataset="digits", build=digits_ann, epochs=15, lr=3e-3, suffix=""),
           "mnist5k": dict(dataset="mnist5k", build=pooled_ann, epochs=15, lr=3e-3, suffix="_mnist5k"),
           "cifar10-vgg16": dict(dataset="cifar10", build=vgg16_ann, epochs=60, lr=1e-3, suffix="_cifar10")}


def accuracy(fn, images, labels, batch: int = 500) -> float:
    with torch.no_grad():
        hits = sum((fn(images[i:i + batch]).argmax(1).cpu() == labels[i:i + batch]).sum().item()
                   for i in range(0, len(labels), batch))
    return hits / len(labels)


def train_ann(ann, x, y, epochs, lr, seed, device, quiet: bool = False):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(ann.parameters(), lr)
    ann.train()
    for _ in tqdm(range(epochs), desc="ANN", leave=False, disable=quiet):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(ann(x[idx].to(device)), y[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    ann.eval()


def table(result) -> str:
    """Markdown table: mean ± std accuracy (%) over seeds per method and latency."""
    rows = {}
    for r in result["runs"]:
        rows.setdefault((r["method"], r["calibrated"]), {}).setdefault(r["timesteps"], []).append(r["accuracy"])
    ts = sorted({r["timesteps"] for r in result["runs"]})
    lines = [f"ANN accuracy: {100 * result['ann_accuracy']:.2f} %  (seeds: {result['seeds']})", "",
             "| method | " + " | ".join(f"T={t}" for t in ts) + " |", "|---" * (len(ts) + 1) + "|"]
    for (method, cal), by_t in rows.items():
        cells = [f"{100 * np.mean(by_t[t]):.1f} ± {100 * np.std(by_t[t]):.1f}" if t in by_t else "" for t in ts]
        lines.append(f"| {method}{' + calibration' if cal else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plots(acts, stages, T: int, out: Path, suffix: str = "") -> None:
    """Sorted activations of layer 2 with each method's threshold; C_1 versus theta for that layer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    post = acts[1].post.reshape(-1)
    pos = np.sort(post[post > 0])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(pos, lw=1, color="k", label="sorted positive activations")
    for method, color in zip(("max", "p99.9", "paper", "exact"), ("C0", "C1", "C2", "C3")):
        theta = float(np.max(plan_thresholds(stages, acts, T, method)[1].theta))
        ax.axhline(theta, color=color, ls="--", label=f"{method}: θ={theta:.3f}")
    ax.set(xlabel="index", ylabel="activation", title=f"layer 2, T={T}")
    ax.legend(fontsize=8)
    with atomic_path(out / f"conversion_activations{suffix}.png", suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    best = optimal_threshold(post, T)
    grid = np.linspace(0.05 * best.theta, 3 * best.theta, 400)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid, [conversion_error(post, T, t, t / 2) for t in grid], lw=1)
    ax.plot([best.theta], [best.error], "r*", ms=10, label=f"exact min θ={best.theta:.3f}")
    ax.set(xlabel="θ (v0 = θ/2)", ylabel="C_1", title=f"conversion error, layer 2, T={T}")
    ax.legend()
    with atomic_path(out / f"conversion_c1{suffix}.png", suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict:
    """Train the ANN per seed, convert it with every method and latency, calibrate; write the result files."""
    cfg = CONFIGS[args.config]
    dataset = args.dataset or cfg["dataset"]
    suffix = cfg["suffix"] if dataset == cfg["dataset"] else result_suffix(dataset)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(1 if device == "cpu" else torch.get_num_threads())
    tr = load_split(dataset, "train", 1, root=args.data_root)
    te = load_split(dataset, "test", 1, root=args.data_root)
    x_tr, y_tr = tr.images[:args.train_limit], tr.labels[:args.train_limit]
    x_te, y_te = te.images[:args.test_limit], te.labels[:args.test_limit]
    amp = 1.0 / tr.info.pixel_levels
    shape = tuple(x_tr.shape[1:])
    epochs = cfg["epochs"] if args.ann_epochs is None else args.ann_epochs
    result = {"config": args.config if dataset == cfg["dataset"] else dataset, "seeds": [],
              "ann_accuracy": 0.0, "ann_accuracy_per_seed": [], "runs": []}
    start = time.time()
    for seed in args.seeds:
        torch.manual_seed(seed)
        ann = cfg["build"](shape, tr.info.num_classes).to(device)
        train_ann(ann, x_tr.float() * amp, y_tr, epochs, cfg["lr"], seed, device, args.quiet)
        result["ann_accuracy_per_seed"].append(accuracy(lambda b: ann(b.float().to(device) * amp), x_te, y_te))
        pick = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(seed))[:args.calib_samples]
        calib, calib_labels = x_tr[pick], y_tr[pick]
        ann_cpu = ann.cpu()
        acts = collect_activations(ann_cpu, [calib[i:i + 256].float() * amp for i in range(0, len(calib), 256)],
                                   seed=seed)
        stages = parse_ann(ann_cpu)
        params = ann_parameters(stages)
        if seed == args.seeds[0]:
            plots(acts, stages, 4, args.out, suffix)
        for method in tqdm(args.methods, desc=f"seed {seed}", disable=args.quiet):
            for T in args.timesteps:
                net = build_snn(stages, params, plan_thresholds(stages, acts, T, method), shape, amp,
                                spike_mode_of(method)).to(device)
                acc = accuracy(lambda b: scores(net, b.to(device), T), x_te, y_te)
                result["runs"].append(dict(method=method, timesteps=T, seed=seed, calibrated=False, accuracy=acc))
                print(f"seed {seed} {method:13s} T={T:2d}: {100 * acc:.1f} %", flush=True)
        for method in args.calibrate:
            for T, net in calibrate(stages, params, acts, shape, amp, method, calib, calib_labels,
                                    timesteps=tuple(args.calib_timesteps), epochs=tuple(args.calib_epochs),
                                    seed=seed, device=device, progress=not args.quiet):
                acc = accuracy(lambda b: scores(net, b.to(device), T), x_te, y_te)
                result["runs"].append(dict(method=method, timesteps=T, seed=seed, calibrated=True, accuracy=acc))
                print(f"seed {seed} {method:13s} T={T:2d} calibrated: {100 * acc:.1f} %", flush=True)
        result["seeds"].append(seed)  # the files written below hold the seeds finished so far
        result["ann_accuracy"] = float(np.mean(result["ann_accuracy_per_seed"]))
        result["wall_seconds"] = time.time() - start
        write_json(args.out / f"conversion{suffix}.json", result)
        with atomic_path(args.out / f"conversion{suffix}.md") as tmp:
            tmp.write_text(f"# ANN-to-SNN conversion, {result['config']}\n\n" + table(result))
    print(table(result))
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``lava-ternary convert`` (``python -m training.convert_digits``): run the experiment; bad input exits 2."""
    p = parsers.convert_parser()
    args = p.parse_args(argv)
    parsers.check_name(p, "--config", args.config, sorted(CONFIGS))
    args.methods = list(CONVERSION_METHODS) if args.methods is None else args.methods
    parsers.check_name(p, "--methods", args.methods, CONVERSION_METHODS)
    parsers.check_name(p, "--calibrate", args.calibrate, CONVERSION_METHODS)
    if args.dataset is not None:
        try:
            resolve_dataset(args.dataset)
        except (ValueError, FileNotFoundError) as exc:
            p.error(f"argument --dataset: {exc}")
    args.out = RESULTS if args.out is None else args.out
    args.out.mkdir(parents=True, exist_ok=True)

    def body() -> int:
        run(args)
        return 0
    return guarded(p.prog, body)


if __name__ == "__main__":
    sys.exit(main())
