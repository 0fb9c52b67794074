"""Hostile netx files: every mutation of a valid export either loads and runs, or fails with NetxFormatError.

A property-based fuzz test (hypothesis) drops keys, changes dtypes, shapes and values, truncates the file
or replaces it with garbage, then runs the file reader, the batched simulator and the Lava loader's
construction on it. Each case must finish within a time bound and raise nothing but
:class:`lava_ternary.errors.NetxFormatError` (whose message names the file).
"""
import contextlib
import os
import subprocess
import sys
import time
import uuid
import shutil
import signal

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_ternary import block
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import read_network
from lava_ternary.netx import Network, export_hdf5
from lava_ternary.sim import compile_network, simulate

CASE_SECONDS = 30
NEURON = {"threshold": 0.5, "current_decay": 1.0, "voltage_decay": 0.25}
FUZZ_COUNT = {"cases": 0, "loaded": 0, "rejected": 0}


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    torch.manual_seed(0)
    blocks = torch.nn.ModuleList([
        block.Conv(NEURON, 1, 4, 3, padding=1, input_shape=(1, 6, 6)),
        block.Flatten(),
        block.Dense(NEURON, 4 * 6 * 6, 5, input_amplitude="layer"),
    ])
    path = tmp_path_factory.mktemp("fuzz") / "valid.net"
    export_hdf5(blocks, path)
    return path


def _datasets(path):
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


@contextlib.contextmanager
def _time_bound(seconds):
    def _alarm(signum, frame):
        raise TimeoutError(f"case took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


def _mutate(path, kind, name, draw_value):
    if kind == "garbage":
        path.write_bytes(bytes(draw_value) * 8)
        return
    if kind == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: max(1, int(len(raw) * draw_value[0] / 256))])
        return
    with h5py.File(path, "r+") as f:
        old = f[name][()]
        if kind == "drop":
            del f[name]
        elif kind == "string":
            _replace(f, name, np.bytes_("x" * (1 + draw_value[0] % 5)))
        elif kind == "float":
            _replace(f, name, np.asarray(old, dtype=np.float64) + 0.5 if np.asarray(old).dtype.kind in "iuf"
                     else np.float64(0.5))
        elif kind == "nan":
            _replace(f, name, np.full(np.shape(old), np.nan))
        elif kind == "inf":
            _replace(f, name, np.full(np.shape(old), -np.inf))
        elif kind == "reshape":
            flat = np.ravel(np.asarray(old))
            _replace(f, name, flat[: max(0, flat.size - 1 - draw_value[0] % 3)])
        elif kind == "huge":
            _replace(f, name, np.full(np.shape(old), 2 ** 40, dtype=np.int64))
        elif kind == "negative":
            _replace(f, name, -np.abs(np.asarray(old, dtype=np.int64)) - 1 if np.asarray(old).dtype.kind in "iub"
                     else np.int64(-1))
        elif kind == "absurd_shape":
            _replace(f, name, np.array([10 ** 9, 10 ** 9, 10 ** 9]))
        elif kind == "uint64":
            _replace(f, name, np.full(np.shape(old), 2 ** 64 - 1 - draw_value[0], dtype=np.uint64))
        elif kind == "group":
            del f[name]
            f.create_group(name)
        elif kind == "soft_link":
            del f[name]
            f[name] = h5py.SoftLink(name if draw_value[0] % 2 else "/nowhere")  # a loop or a dangling link
        elif kind == "non_ascii":
            _replace(f, name, np.bytes_(bytes(draw_value) + b"\xff"))


KINDS = ["drop", "string", "float", "nan", "inf", "reshape", "huge", "negative", "absurd_shape", "truncate", "garbage",
         "uint64", "group", "soft_link", "non_ascii"]


def _exercise(path):
    spec = read_network(path)
    layers = compile_network(spec)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(2, *spec.input_shape, 3))
    simulate(layers, x, input_message_bits=6)
    Network(net_config=str(path), input_message_bits=6)


@settings(max_examples=120)
@given(kind=st.sampled_from(KINDS), pick=st.integers(0, 10 ** 6), value=st.lists(st.integers(0, 255), min_size=1,
                                                                                   max_size=16))
def test_mutated_files_load_or_fail_cleanly(valid_file, tmp_path_factory, kind, pick, value):
    names = _datasets(valid_file)
    name = names[pick % len(names)]
    path = tmp_path_factory.mktemp("case") / "mutated.net"
    shutil.copy(valid_file, path)
    _mutate(path, kind, name, value)
    FUZZ_COUNT["cases"] += 1
    with _time_bound(CASE_SECONDS):
        try:
            _exercise(path)
            FUZZ_COUNT["loaded"] += 1
        except NetxFormatError as err:
            FUZZ_COUNT["rejected"] += 1
            assert str(path) in str(err), f"the error must name the file: {err}"


def test_fuzz_ran_both_outcomes():
    """The fuzz test above exercised both outcomes (it runs first in this module)."""
    assert FUZZ_COUNT["cases"] >= 100
    assert FUZZ_COUNT["rejected"] > 0 and FUZZ_COUNT["loaded"] > 0, FUZZ_COUNT


@pytest.mark.parametrize("layer_key, problem", [("1/neuron/vThMant", "vThMant"), ("1/weight", "weight"),
                                                ("1/type", "type"), ("1/shape", "shape")])
def test_missing_key_names_file_layer_and_key(valid_file, tmp_path, layer_key, problem):
    path = tmp_path / "bad.net"
    shutil.copy(valid_file, path)
    with h5py.File(path, "r+") as f:
        del f["layer/" + layer_key]
    with pytest.raises(NetxFormatError) as info:
        read_network(path)
    msg = str(info.value)
    assert str(path) in msg and "layer 1" in msg and problem in msg


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.net"
    path.write_text("not an hdf5 file")
    with pytest.raises(NetxFormatError, match="text.net"):
        read_network(path)


LAVA_RUN = """
import signal, sys, numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when CI starts us with SIGINT ignored
import lava_ternary
from lava_ternary.parity import run_lava
x = np.random.default_rng(0).integers(0, 17, size=(400, 1, 6, 6, 8))
print("started", flush=True)
run_lava(sys.argv[1], x, input_message_bits=6, chunk=8)
"""


def _marked_processes(marker):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("interrupt", [None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["finished", "SIGINT", "SIGTERM", "SIGKILL"])
def test_lava_runs_leave_no_worker_processes(valid_file, interrupt):
    """A Lava run that finishes, or is stopped mid-run by Ctrl-C, SIGTERM or SIGKILL, leaves no Lava worker
    process behind (SIGHUP takes SIGTERM's path: ``test_interrupts.py``)."""
    marker = f"LT_ORPHAN_CHECK={uuid.uuid4().hex}"
    env = dict(os.environ, LT_ORPHAN_CHECK=marker.split("=", 1)[1])
    steps = "" if interrupt else "x = x[:2]\n"
    script = LAVA_RUN.replace("print(", steps + "print(")
    proc = subprocess.Popen([sys.executable, "-c", script, str(valid_file)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        if interrupt:
            deadline = time.time() + 120
            while len(_marked_processes(marker)) < 3 and time.time() < deadline:  # wait for Lava's worker processes
                time.sleep(0.2)
            time.sleep(1)
            assert proc.poll() is None, "the run should still be going"
            assert len(_marked_processes(marker)) >= 3, "Lava should have started worker processes"
            proc.send_signal(interrupt)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a hung run fails the test, but does not outlive it
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0 if interrupt else proc.returncode == 0
    if interrupt == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    deadline = time.time() + 20
    while _marked_processes(marker) and time.time() < deadline:
        time.sleep(0.5)
    assert _marked_processes(marker) == []


def _no_clamp(weight, descale=False):
    """A pre-hook that quantises to the 2/64 grid but does not clamp to the 8-bit range."""
    step = 2 / 64
    q = torch.round(weight / step) * step
    return q * 64 if descale else q


def test_threshold_beyond_17_bits_fails_where_it_enters():
    with pytest.raises(ValueError, match="threshold must be in"):
        block.Dense(dict(NEURON, threshold=3000.0), 4, 2)


@pytest.mark.parametrize("case, match", [
    ("weight", "8-bit range"),
    ("overflow", "overflows the 24-bit current"),
])
def test_out_of_range_parameters_fail_on_export(tmp_path, case, match):
    """The 8-bit weight and 24-bit state ranges are checked at export, naming the layer."""
    from lava_ternary.errors import RangeError

    if case == "weight":
        blocks = [block.Dense(NEURON, 4, 30), block.Dense(NEURON, 30, 2, pre_hook_fx=_no_clamp)]
        value = 9.0
    else:
        blocks = [block.Dense(NEURON, 4, 1100), block.Dense(NEURON, 1100, 2)]
        value = 3.9
    with torch.no_grad():
        blocks[1].synapse.weight.fill_(value)
    path = tmp_path / f"{case}.net"
    with pytest.raises(RangeError, match=match) as info:
        export_hdf5(blocks, path)
    assert "layer 1" in str(info.value)
    assert not path.exists()
