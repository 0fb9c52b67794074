"""Interrupted work: a training run SIGKILLed at any instant resumes to the uninterrupted result.

The killed runs are forked from this (already imported) process, so that each costs training time
only; the kill is a real SIGKILL, either at a seeded random instant or just before the k-th atomic
commit (``os.replace``) of the run, found through the ``os.rename`` audit event.
"""
import json
import os
import signal
import sys
import time

import h5py
import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401
from training import checkpoint, train

TINY = ["--dataset", "digits", "--timesteps", "1", "--train-limit", "96", "--batch-size", "32", "--quiet",
        "--seed", "3", "--epochs", "2"]


def _args(out, *extra):
    return train.build_parser().parse_args(TINY + ["--out", str(out)] + list(extra))


def _fork_train(out, before_commit=None):
    """Fork a child training into ``out``; it SIGKILLs itself just before its ``before_commit``-th rename."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        if before_commit is not None:
            seen = [0]

            def hook(event, _args):
                if event == "os.rename":
                    seen[0] += 1
                    if seen[0] == before_commit:
                        os.kill(os.getpid(), signal.SIGKILL)
            sys.addaudithook(hook)
        train.train(_args(out))
        code = 0
    finally:
        os._exit(code)


def _wait(pid):
    """``'killed'`` or ``'finished'``."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return "killed"
    assert os.WEXITSTATUS(status) == 0
    return "finished"


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as fh:
        fh.visititems(lambda name, obj: out.setdefault(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _assert_same_run(ref, run):
    """Same weights in last.pt, best.pt and model.net, same metrics; no temporary file left."""
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "model.net", "result.json"]
    for name in ("last.pt", "best.pt"):
        a, b = checkpoint.read_checkpoint(ref / name), checkpoint.read_checkpoint(run / name)
        assert _same(a["model"], b["model"]), name
        assert a["meta"]["epoch"] == b["meta"]["epoch"] and a["meta"]["val_accuracy"] == b["meta"]["val_accuracy"]
    a, b = _datasets(ref / "model.net"), _datasets(run / "model.net")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    drop = ("seconds_per_epoch", "netx")
    a, b = (json.loads((d / "result.json").read_text()) for d in (ref, run))
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, and the seconds a forked run takes once this process is warm."""
    root = tmp_path_factory.mktemp("interrupts")
    train.train(_args(root / "ref"))
    start = time.perf_counter()
    assert _wait(_fork_train(root / "forked")) == "finished"
    seconds = time.perf_counter() - start
    _assert_same_run(root / "ref", root / "forked")
    return root / "ref", seconds


def test_sigkill_before_every_commit_then_resume_equals_the_uninterrupted_run(reference, tmp_path):
    ref, _ = reference
    commit, outcome = 0, "killed"
    while outcome == "killed":
        commit += 1
        out = tmp_path / f"kill{commit}"
        outcome = _wait(_fork_train(out, before_commit=commit))
        if outcome == "killed":
            assert not (out / "last.pt").exists() or (out / "best.pt").exists()  # best.pt never missing
            train.train(_args(out, "--resume"))
        _assert_same_run(ref, out)
    assert commit >= 5  # best.pt and last.pt per epoch (best at least once), model.net, result.json


def test_sigkill_at_random_instants_then_resume_equals_the_uninterrupted_run(reference, tmp_path):
    ref, seconds = reference
    rng = np.random.default_rng(13)
    for k, delay in enumerate(rng.uniform(0.0, 1.1 * seconds, size=3)):
        out = tmp_path / f"random{k}"
        pid = _fork_train(out)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
        train.train(_args(out, "--resume"))
        _assert_same_run(ref, out)


WORKER_PARENT = """
import multiprocessing, sys, time
from lava_ternary.lava_session import bound_workers
multiprocessing.set_start_method("fork")
with bound_workers():
    worker = multiprocessing.Process(target=time.sleep, args=(600,))
    worker.start()
    print(worker.pid, flush=True)
    time.sleep(600)
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_forked_during_a_lava_run_dies_with_its_sigkilled_parent():
    """The mechanism behind test_robustness's Lava orphan tests, with a plain multiprocessing worker."""
    import subprocess
    proc = subprocess.Popen([sys.executable, "-c", WORKER_PARENT], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    assert _alive(worker)
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_signals_during_a_lava_run_unwind_through_finally_and_cannot_be_swallowed(signum):
    """SIGTERM/SIGHUP raise SystemExit(128 + signal), SIGINT KeyboardInterrupt, so run_lava's clean-up runs;
    an exception swallowed where it landed is raised again by check(); the handlers are restored after."""
    from lava_ternary.lava_session import bound_workers
    expected = KeyboardInterrupt if signum == signal.SIGINT else SystemExit
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        before = signal.getsignal(signum)
        cleaned = []
        with pytest.raises(expected) as raised:
            with bound_workers():
                try:
                    os.kill(os.getpid(), signum)
                    time.sleep(5)  # interrupted by the handler at once
                finally:
                    cleaned.append(True)
        assert cleaned == [True] and (signum == signal.SIGINT or raised.value.code == 128 + signum)
        with bound_workers() as interrupts:
            try:
                os.kill(os.getpid(), signum)
                time.sleep(5)
            except expected:
                pass  # swallowed, as a __del__ or a finaliser would
            with pytest.raises(expected):
                interrupts.check()
        assert signal.getsignal(signum) is before
    finally:
        signal.signal(signal.SIGINT, previous)
