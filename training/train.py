"""Train a ternary / binary SNN with SLAYER (lava-dl) and export the best checkpoint to netx.

``python -m training.train --dataset digits --neuron ternary --timesteps 4 --epochs 10 --out runs/x``
(also ``torchrun --nproc_per_node=N -m training.train ...`` for distributed data parallel).

Per epoch: train (tqdm shows loss and accuracy), evaluate on the validation split, write
``OUT/best.pt`` when the validation accuracy improves and then ``OUT/last.pt``, each atomically. At
the end the best checkpoint is evaluated on the test split, exported to ``OUT/model.net`` (netx
HDF5) and summarised in ``OUT/result.json``. ``--resume`` continues from ``OUT/last.pt`` exactly
(from the start when a run was stopped before its first epoch ended): the data order and
rate-encoding draws depend only on ``(seed, epoch)``, and the optimiser, scheduler, statistics and
RNG states are restored. On CPU a fixed seed gives the same weights bit for bit.

A run killed at any instant (SIGKILL included) leaves a consistent folder: ``best.pt`` is written
before ``last.pt``, so ``best.pt`` always holds the best of the epochs ``last.pt`` has seen (or of one
epoch more, which a resume recomputes identically), and is never missing once an epoch has ended;
``--resume`` then gives the uninterrupted run's result. Temporary files of a killed write are
removed when the next run starts (:func:`lava_ternary.io_utils.remove_stale_temporaries`).

Loss: cross-entropy on the spike counts ``sum_t b`` of the output layer over the ``T`` steps after
the network latency, summed over each class's output population
(:meth:`training.models.SpikingNet.readout`), scaled by ``--logit-scale / (T * population)``. The
deployed network predicts the class with the largest spike count, the same argmax.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

import lava_ternary  # noqa: F401  (installs the lava import fix before lava-dl is imported)
from lava.lib.dl import slayer

from lava_ternary.errors import CheckpointError
from lava_ternary.io_utils import check_writable, remove_stale_temporaries, write_json
from training import checkpoint, data, models, parsers

log = logging.getLogger(__name__)


SCHEDULES = parsers.SCHEDULES
# Settings that must match for --resume to continue a run (the others may change, e.g. --device).
RUN_KEYS = ("dataset", "model", "neuron", "timesteps", "encoding", "epochs", "batch_size", "lr", "schedule",
            "weight_decay", "seed", "width", "population", "logit_scale", "train_limit", "surrogate")


def build_parser() -> argparse.ArgumentParser:
    """The command-line options of ``lava-ternary train`` (``python -m training.train``): :mod:`training.parsers`."""
    return parsers.train_parser()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv``; the model, neuron and dataset names are checked here (one line and exit 2 if unknown)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    parsers.check_name(parser, "--model", args.model, models.MODELS)
    parsers.check_name(parser, "--neuron", args.neuron, models.NEURONS)
    try:
        data.dataset_info(args.dataset, args.encoding, args.neuron != "binary")
    except (ValueError, FileNotFoundError) as exc:
        parser.error(f"argument --dataset: {exc}")
    return args


# ---------------------------------------------------------------------------------------------- distributed
@contextlib.contextmanager
def distributed(device: str) -> Iterator[Tuple[int, int]]:
    """Join the process group when started by torchrun (``WORLD_SIZE > 1``); yield ``(rank, world_size)``.

    A group joined here is destroyed on exit, also on error; one set up by the caller is left to it.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield 0, 1
        return
    import torch.distributed as dist
    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        if joined:
            dist.destroy_process_group()


def global_counts(loss_sum: float, correct: int, num_samples: int, world_size: int,
                  device: str = "cpu") -> Tuple[float, int, int]:
    """Sum one epoch's ``(loss_sum, correct, num_samples)`` over all ranks; returned unchanged for one process.

    The sums travel as float64, which holds the sample counts exactly.
    """
    if world_size <= 1:
        return loss_sum, correct, num_samples
    import torch.distributed as dist
    sums = torch.tensor([loss_sum, correct, num_samples], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    return float(sums[0]), int(sums[1]), int(sums[2])


def loss_and_scores(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, timesteps: int,
                    logit_scale: float) -> tuple:
    """Per-sample cross-entropy (``reduction='none'``) and class scores (spike counts) of a batch.

    The loss sees the output spikes ``b`` (with their surrogate gradient); the returned scores count
    them in integers, as the deployed network does, so that ties break the same way.
    """
    net = model.module if hasattr(model, "module") else model
    out = model(x)
    scale = logit_scale / (timesteps * int(net.config.get("population", 1)))
    loss = F.cross_entropy(net.readout(out) * scale, y, reduction="none")
    return loss, net.readout(torch.sign(out.detach()).to(torch.int64))


def backward_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, timesteps: int, logit_scale: float,
                  global_batch: int, world_size: int = 1) -> tuple:
    """Forward and backward of one (shard of a) batch; gradients are those of the mean loss of the global batch.

    Each rank's loss is ``sum(loss_i) * world_size / global_batch``; DDP averages gradients over the
    ``world_size`` ranks, so every rank ends with the gradient of ``sum over all samples / global_batch``,
    exactly the single-process gradient of the concatenated batch. Returns ``(loss_sum, scores)``.
    """
    losses, scores = loss_and_scores(model, x, y, timesteps, logit_scale)
    (losses.sum() * (world_size / global_batch)).backward()
    return float(losses.detach().sum()), scores.detach()


def global_batch_size(num_samples: int, batch_size: int, world_size: int, step: int) -> int:
    """Number of samples in global batch ``step`` (the last one may be short)."""
    chunk = batch_size * world_size
    return min(chunk, num_samples - step * chunk)


# ---------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: data.SpikeDataset, timesteps: int, logit_scale: float,
             batch_size: int = 256, device: str = "cpu") -> Dict[str, float]:
    """Accuracy and mean loss of ``model`` on a whole split (argmax of the output spike counts)."""
    model.eval()
    correct, loss, n = 0, 0.0, 0
    for idx in data.epoch_batches(len(dataset), batch_size, 0, 0, shuffle=False):
        x, y = dataset.batch(idx)
        x, y = x.to(device), y.to(device)
        losses, scores = loss_and_scores(model, x, y, timesteps, logit_scale)
        correct += int((scores.argmax(1) == y).sum())
        loss += float(losses.sum())
        n += len(idx)
    return {"accuracy": correct / max(n, 1), "loss": loss / max(n, 1)}


# ---------------------------------------------------------------------------------------------- state
def _make_optimizer(model: torch.nn.Module, args: argparse.Namespace):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(args.epochs, 1))
    elif args.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(args.epochs // 3, 1), gamma=0.1)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def _stats_state(stats: slayer.utils.LearningStats) -> Dict[str, Any]:
    def one(s):
        return {"loss_log": [float(v) for v in s.loss_log], "accuracy_log": [float(v) for v in s.accuracy_log],
                "min_loss": s.min_loss, "max_accuracy": s.max_accuracy}
    return {"training": one(stats.training), "validation": one(stats.validation)}


def _restore_stats(stats: slayer.utils.LearningStats, state: Dict[str, Any]) -> None:
    for name in ("training", "validation"):
        target, saved = getattr(stats, name), state[name]
        target.loss_log, target.accuracy_log = list(saved["loss_log"]), list(saved["accuracy_log"])
        target.min_loss, target.max_accuracy = saved["min_loss"], saved["max_accuracy"]


def run_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """The run settings stored in every checkpoint's ``meta`` (and compared on ``--resume``)."""
    return {k: getattr(args, k) for k in RUN_KEYS}


# ---------------------------------------------------------------------------------------------- training
def train(args: argparse.Namespace) -> Dict[str, Any]:
    """Run (or resume) one training run as configured by ``args``; return the result summary.

    The summary holds the settings, per-epoch curves, best validation accuracy, test accuracy and
    loss of the best checkpoint, seconds per epoch and the netx export path. Under torchrun the
    training loss and accuracy (curves, checkpoint statistics, log) are those of all ranks' samples
    together (the progress bar shows rank 0's shard); a process group joined here is destroyed on
    return or error.
    """
    torch.set_num_threads(max(args.threads, 1))
    with distributed(args.device) as (rank, world):
        return _train(args, rank, world)


def _train(args: argparse.Namespace, rank: int, world: int) -> Dict[str, Any]:
    import time
    device = args.device
    if device.startswith("cuda") and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
        torch.cuda.set_device(device)
    out = Path(args.out)
    if rank == 0:  # the run directory is created (one clear error if it cannot be); killed writes are cleaned
        check_writable(out / "last.pt", create_parents=True)
        remove_stale_temporaries(out)
    # imported (even with --no-export) before any progress bar: lava's runtime calls
    # multiprocessing.set_start_method('fork') at import, which raises once tqdm's lock has fixed the method
    from lava_ternary.netx import export_hdf5
    signed = args.neuron != "binary"
    train_set = data.load_split(args.dataset, "train", args.timesteps, args.encoding, signed,
                                root=args.data_root, verify_checksums=args.verify_checksums, seed=args.seed)
    if args.train_limit:
        train_set.labels = train_set.labels[:args.train_limit]
    val_set = data.load_split(args.dataset, "val", args.timesteps, args.encoding, signed,
                              root=args.data_root, verify_checksums=args.verify_checksums, seed=args.seed + 1)
    info = train_set.info

    torch.manual_seed(args.seed)
    model = models.build_model(args.model, info.shape, info.num_classes, args.neuron, info.max_level,
                               width=args.width, population=args.population,
                               neuron_overrides={"surrogate": args.surrogate}).to(device)
    optimizer, scheduler = _make_optimizer(model, args)
    stats = slayer.utils.LearningStats()
    start_epoch, best_acc, seconds = 0, -1.0, []
    settings = run_settings(args)
    if args.resume and not (out / "last.pt").exists():
        log.info("%s: no last.pt (stopped before the first epoch ended); starting from epoch 1", out)
    elif args.resume:
        last = out / "last.pt"
        payload = checkpoint.read_checkpoint(last)
        saved = payload["meta"].get("settings", {})
        differ = [k for k in RUN_KEYS if saved.get(k) != settings[k]]
        if differ:
            raise CheckpointError(f"checkpoint {str(last)!r}: cannot resume with different settings "
                                  + ", ".join(f"{k}={settings[k]!r} (saved {saved.get(k)!r})" for k in differ))
        checkpoint.load_state(last, model, payload)
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        _restore_stats(stats, payload["stats"])
        torch.set_rng_state(payload["rng"])
        start_epoch, best_acc = payload["meta"]["epoch"], payload["meta"]["best_val_accuracy"]
        seconds = list(payload["meta"].get("seconds_per_epoch", []))
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=None if device == "cpu" else [device])

    stop = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, stop):
        t0 = time.perf_counter()
        net.train()
        train_set.set_epoch(epoch)
        batches = list(data.epoch_batches(len(train_set), args.batch_size, epoch, args.seed, True, rank, world))
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet or rank != 0,
                   file=sys.stderr, leave=False)
        for step, idx in enumerate(bar):
            x, y = train_set.batch(idx)
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss_sum, scores = backward_step(net, x, y, args.timesteps, args.logit_scale,
                                             global_batch_size(len(train_set), args.batch_size, world, step), world)
            optimizer.step()
            stats.training.loss_sum += loss_sum
            stats.training.correct_samples += int((scores.argmax(1) == y).sum())
            stats.training.num_samples += len(idx)
            bar.set_postfix(loss=f"{stats.training.loss:.3f}", acc=f"{stats.training.accuracy:.3f}")
        scheduler.step()
        tr = stats.training
        tr.loss_sum, tr.correct_samples, tr.num_samples = global_counts(tr.loss_sum, tr.correct_samples,
                                                                        tr.num_samples, world, device)
        val = evaluate(model, val_set, args.timesteps, args.logit_scale, device=device)
        stats.validation.loss_sum, stats.validation.correct_samples = val["loss"] * len(val_set), \
            round(val["accuracy"] * len(val_set))
        stats.validation.num_samples = len(val_set)
        stats.update()
        seconds.append(time.perf_counter() - t0)
        improved = val["accuracy"] > best_acc
        best_acc = max(best_acc, val["accuracy"])
        if rank == 0:
            meta = {"settings": settings, "epoch": epoch + 1, "best_val_accuracy": best_acc,
                    "val_accuracy": val["accuracy"], "timesteps": args.timesteps, "latency": model.latency,
                    "dataset": info.name, "input_max_level": info.max_level, "encoding": args.encoding,
                    "seconds_per_epoch": seconds}
            extra = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "stats": _stats_state(stats), "rng": torch.get_rng_state()}
            if improved:  # best first: a kill between the two writes leaves last.pt behind, never best.pt
                checkpoint.save_checkpoint(out / "best.pt", model, meta)
            checkpoint.save_checkpoint(out / "last.pt", model, meta, **extra)
            if not args.quiet:
                print(f"epoch {epoch + 1}/{args.epochs}: train loss {tr.loss_log[-1]:.4f} acc {tr.accuracy_log[-1]:.4f}"
                      f" | val loss {val['loss']:.4f} acc {val['accuracy']:.4f} ({seconds[-1]:.1f} s)", file=sys.stderr)

    result: Dict[str, Any] = {"settings": settings, "epochs_done": stop, "finished": stop >= args.epochs,
                              "best_val_accuracy": best_acc, "seconds_per_epoch": seconds,
                              "curves": _stats_state(stats)}
    if rank == 0 and result["finished"]:
        best_model, best_meta = checkpoint.load_model(out / "best.pt", device)
        test = evaluate(best_model, data.load_split(args.dataset, "test", args.timesteps, args.encoding, signed,
                                                    root=args.data_root, verify_checksums=args.verify_checksums, seed=args.seed + 2),
                        args.timesteps, args.logit_scale, device=device)
        netx_path = None
        if not args.no_export:
            netx_path = str(out / "model.net")
            export_hdf5(best_model, netx_path)
        result.update(test_accuracy=test["accuracy"], test_loss=test["loss"], best_epoch=best_meta["epoch"],
                      netx=netx_path)
        write_json(out / "result.json", result)
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (``python -m training.train``, ``lava-ternary train``)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = train(args)
    if result["finished"] and "test_accuracy" in result:
        print(f"best val accuracy {result['best_val_accuracy']:.4f}, test accuracy {result['test_accuracy']:.4f}, "
              f"{sum(result['seconds_per_epoch']) / max(len(result['seconds_per_epoch']), 1):.2f} s/epoch, "
              f"netx: {result['netx']}")
    elif not result["finished"]:
        print(f"stopped after epoch {result['epochs_done']}/{args.epochs}; continue with --resume")
    return 0


if __name__ == "__main__":
    sys.exit(main())
