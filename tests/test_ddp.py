"""Distributed data parallel: 2 gloo ranks give the single-process gradient and spikes; torchrun trains.

Workers run this file as a script (``python tests/test_ddp.py RANK WORLD PORT OUT``) so that they
import ``lava_ternary`` (the Python 3.11 fix) before ``training`` pulls in lava-dl.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SEED, BATCH, TIMESTEPS, WIDTH, LOGIT_SCALE = 5, 16, 4, 4, 4.0


def _setup():
    """Seeded small digits-conv model and one batch of digits (identical in every process)."""
    import lava_ternary  # noqa: F401  (before lava-dl)
    from training import data, models
    train_set = data.load_split("digits", "train", TIMESTEPS, signed=True, seed=SEED)
    x, y = train_set.batch(list(range(BATCH)))
    torch.manual_seed(SEED)
    model = models.build_model("digits-conv", train_set.info.shape, train_set.info.num_classes, "ternary",
                               train_set.info.max_level, width=WIDTH)
    return model, x, y


def _step(model, x, y, global_batch, world):
    """``backward_step`` on ``x``; return the forward output spikes and the parameter gradients."""
    from training import train
    spikes = []
    inner = model.module if hasattr(model, "module") else model
    hook = inner.register_forward_hook(lambda mod, inp, out: spikes.append(out.detach().clone()))
    train.backward_step(model, x, y, TIMESTEPS, LOGIT_SCALE, global_batch, world)
    hook.remove()
    grads = {k: p.grad.detach().clone() for k, p in inner.named_parameters() if p.grad is not None}
    return spikes[0], grads


def _worker(rank: int, world: int, port: int, out: str) -> None:
    """One DDP rank: the rows ``rank::world`` of the batch (as ``data.epoch_batches`` shards)."""
    torch.set_num_threads(1)
    model, x, y = _setup()
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        net = torch.nn.parallel.DistributedDataParallel(model)
        spikes, grads = _step(net, x[rank::world], y[rank::world], BATCH, world)
    finally:
        dist.destroy_process_group()
    torch.save({"spikes": spikes, "grads": grads}, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


@pytest.fixture
def one_thread():
    """The workers' single intra-op thread here too, so that reductions run in the same order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_gloo_ranks_match_single_process_on_the_concatenated_batch(tmp_path, one_thread):
    world, port = 2, _free_port()
    outs = [tmp_path / f"rank{r}.pt" for r in range(world)]
    procs = [subprocess.Popen([sys.executable, __file__, str(r), str(world), str(port), str(outs[r])],
                              cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for r in range(world)]
    logs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]

    model, x, y = _setup()
    spikes, grads = _step(model, x, y, BATCH, 1)
    ranks = [torch.load(o) for o in outs]
    for r, got in enumerate(ranks):
        # spikes are values in {-1, 0, +1} x amplitude: a shard's forward must equal its rows exactly
        assert torch.equal(got["spikes"], spikes[r::world]), f"rank {r} spikes differ"
        assert got["grads"].keys() == grads.keys()
        assert any(g.abs().sum() > 0 for g in got["grads"].values())
    halves = []
    for r in range(world):
        shard_model, _, _ = _setup()
        halves.append(_step(shard_model, x[r::world], y[r::world], BATCH, world)[1])
    for k, ref in grads.items():
        # both ranks hold the same all-reduced gradient, bit for bit, and it is exactly the mean of the
        # shards' gradients computed here in one process: DDP adds nothing but the all-reduce
        assert torch.equal(ranks[0]["grads"][k], ranks[1]["grads"][k]), k
        assert torch.equal(ranks[0]["grads"][k], (halves[0][k] + halves[1][k]) / world), k
        # the full batch sums the same float32 terms in another order (two half sums, then their sum):
        # equal up to summation rounding, which is relative to the gradient's largest entry, not to each
        # element (entries that cancel to ~0 differ by up to 4e-4 relative; measured max |diff| / max|g|
        # is 1.8e-7, the size of float32-vs-float64 error of the single process itself). A wrong loss
        # scaling or a different batch is an O(1) difference.
        scale = float(ref.abs().max())
        torch.testing.assert_close(ranks[0]["grads"][k], ref, rtol=1e-5, atol=1e-5 * scale, msg=k)


def test_torchrun_two_processes_trains_and_logs_the_accuracy_of_all_ranks(tmp_path, one_thread):
    """One global batch of 64 (32 per rank): its training accuracy is that of the initial weights on all
    64 samples, so the 2-rank run must log exactly the single-process accuracy, not rank 0's half."""
    from training import checkpoint, train
    common = ["--dataset", "digits", "--timesteps", "1", "--epochs", "1", "--train-limit", "64", "--threads", "1",
              "--no-export", "--quiet"]
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "training.train", *common, "--batch-size", "32", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (out / "best.pt").is_file()
    logged = checkpoint.read_checkpoint(out / "last.pt")["stats"]["training"]

    single = train.train(train.build_parser().parse_args(common + ["--batch-size", "64", "--out", str(tmp_path / "one")]))
    expected = single["curves"]["training"]
    assert logged["accuracy_log"] == expected["accuracy_log"]
    # the same 64 float32 losses, summed as two halves instead of at once
    assert logged["loss_log"] == pytest.approx(expected["loss_log"], rel=1e-6)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
