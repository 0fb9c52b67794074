"""The stack installs and runs on this Python: the lava 3.11 fix, Lava simulation, slayer training."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lava_ternary
from lava_ternary import compat, fixed
from lava_ternary.smoke import SMOKE_PARAMS

ENV = dict(os.environ, LAVA_TERNARY_NO_PTH="1")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)


def _float_lif(params, a_in, state):
    u, v = state
    u = u * (1 - params["du"]) + a_in
    v = v * (1 - params["dv"]) + u + params["bias_mant"]
    s = v > params["vth"]
    return s, (u, 0.0 if s else v)


def expected_voltages(tag: str, steps: int) -> np.ndarray:
    """LIF -> Dense(1-step latency) -> LIF from the LIF equations, in float or in Loihi integers."""
    p = SMOKE_PARAMS[tag]
    s1 = 0
    st1, st2 = (0, 0), (0, 0)
    out = []
    for _ in range(steps):
        a2 = p["weight"] * s1  # the Dense output of the previous step
        if tag == "floating_pt":
            s1, st1 = _float_lif(p["lif1"], 0.0, st1)
            _, st2 = _float_lif(p["lif2"], a2, st2)
        else:
            l1, l2 = p["lif1"], p["lif2"]
            u, v, s = fixed.neuron_step(*st1, 0, i_decay=l1["du"] + 1, v_decay=l1["dv"], vth=l1["vth"],
                                        bias=l1["bias_mant"] << l1["bias_exp"], binary=True)
            st1, s1 = (u, v), int(s)
            u, v, _ = fixed.neuron_step(*st2, a2, i_decay=l2["du"] + 1, v_decay=l2["dv"], vth=l2["vth"], binary=True)
            st2 = (u, v)
        out.append((float(st1[1]), float(st2[1])))
    return np.array(out)


@pytest.mark.parametrize("tag", ["floating_pt", "fixed_pt"])
def test_lava_lif_dense_lif_in_fresh_interpreter(tag):
    code = ("import lava_ternary, json\n"
            "from lava_ternary.smoke import run_lif_dense_lif\n"
            f"print('RESULT', json.dumps(run_lif_dense_lif('{tag}', steps=10).tolist()))\n"
            "import lava.lib.dl.slayer, lava.lib.dl.netx\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    got = np.array(json.loads(line[len("RESULT "):]))
    want = expected_voltages(tag, 10)
    assert (got[:, 0] == 0).any(), "LIF 1 should fire and reset within 10 steps"
    assert (got[:, 1] != 0).any(), "LIF 2 should receive LIF 1's spikes"
    np.testing.assert_allclose(got, want)


@pytest.mark.skipif(not compat.needs_patch(), reason="lava imports unpatched on this Python")
def test_lava_fails_without_the_fix():
    proc = _python("import lava.magma.compiler.var_model")
    assert proc.returncode != 0
    assert "mutable default" in proc.stderr


def test_pth_hook_installs_the_fix_at_startup(tmp_path):
    pth = compat.install_pth(str(tmp_path))
    code = (f"import site; site.addsitedir({str(tmp_path)!r}); import sys; "
            "assert 'lava_ternary' in sys.modules; import lava.magma.compiler.var_model")
    env = dict(os.environ)
    env.pop("LAVA_TERNARY_NO_PTH", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert pth.read_text().count("install()") == 1


def test_patch_source_rewrites_only_mutable_defaults():
    src = "@dataclass\nclass A:\n    x: ByteEncoder = ByteEncoder()\n    y: int = 0\n"
    out = compat.patch_source(src)
    assert "field(default_factory=ByteEncoder)" in out
    assert out.count("\n") == src.count("\n"), "line numbers must be kept for tracebacks"
    assert "y: int = 0" in out


def test_dataclass_rewrite_is_skipped_where_not_needed(monkeypatch):
    monkeypatch.setattr(compat, "needs_patch", lambda: False)
    assert compat.TARGET not in compat._patches()
    assert compat.MP_TARGET in compat._patches()


def test_lava_imports_after_multiprocessing_context_was_set():
    """tqdm (and anything else) fixing the default start method must not break a later lava import."""
    proc = _python("import multiprocessing as mp; mp.get_context().Lock(); import lava_ternary\n"
                   "from tqdm import tqdm; list(tqdm(range(2), disable=True))\n"
                   "import lava.magma.runtime.message_infrastructure.multiprocessing\n"
                   "assert mp.get_start_method() == 'fork'")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_slayer_cuba_dense_trains_one_step():
    import torch
    from lava.lib.dl import slayer
    torch.manual_seed(0)
    blk = slayer.block.cuba.Dense({"threshold": 0.1, "current_decay": 0.5, "voltage_decay": 0.1}, 20, 5)
    x = (torch.rand(4, 20, 16) < 0.5).float()
    opt = torch.optim.SGD(blk.parameters(), lr=1.0)
    before = blk.synapse.weight.detach().clone()
    loss = slayer.loss.SpikeRate(true_rate=0.5, false_rate=0.05)(blk(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(blk.synapse.weight.grad).all() and blk.synapse.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(before, blk.synapse.weight.detach())


def test_cli_version_and_help():
    exe = [sys.executable, "-m", "lava_ternary.cli"]
    out = subprocess.run(exe + ["--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and lava_ternary.__version__ in out.stdout
    out = subprocess.run(exe + ["--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage: lava-ternary" in out.stdout


@pytest.fixture
def umask():
    """Set the process umask for one test (``umask(mask)``) and restore the previous one afterwards."""
    before = os.umask(0o022)
    yield os.umask
    os.umask(before)


@pytest.mark.parametrize("mask", [0o002, 0o027], ids=["umask002", "umask027"])
def test_atomic_write_gives_a_new_file_the_mode_of_a_plain_open(tmp_path, umask, mask):
    from lava_ternary.io_utils import atomic_path, write_json
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    with atomic_path(tmp_path / "atomic.txt") as tmp:
        tmp.write_text("x")
    write_json(tmp_path / "result.json", {"a": 1})
    plain = os.stat(tmp_path / "plain.txt").st_mode & 0o7777
    assert plain == 0o666 & ~mask
    assert os.stat(tmp_path / "atomic.txt").st_mode & 0o7777 == plain
    assert os.stat(tmp_path / "result.json").st_mode & 0o7777 == plain
    assert umask(mask) == mask  # reading the umask left it as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.txt", "plain.txt", "result.json"]


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask):
    from lava_ternary.io_utils import atomic_path
    umask(0o077)
    target = tmp_path / "last.pt"
    target.write_text("old")
    os.chmod(target, 0o640)
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert os.stat(target).st_mode & 0o7777 == 0o640
