"""Checkpoints: atomic round trip, and clear errors for files of another model or format."""
import torch
import pytest

import lava_ternary  # noqa: F401
from lava_ternary.errors import CheckpointError
from training import checkpoint, models


def test_round_trip_rebuilds_the_model(tmp_path):
    torch.manual_seed(0)
    net = models.build_model(neuron="ternary-learned", population=2)
    path = checkpoint.save_checkpoint(tmp_path / "a.pt", net, {"timesteps": 2})
    checkpoint.save_checkpoint(path, net, {"timesteps": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]
    loaded, meta = checkpoint.load_model(path)
    assert meta == {"timesteps": 2}
    x = torch.randint(0, 17, (3, 1, 8, 8, 2)).float()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    path = checkpoint.save_checkpoint(tmp_path / "mlp.pt", models.build_model("mlp"))
    with pytest.raises(CheckpointError, match="name='mlp'.*name='digits-conv'"):
        checkpoint.load_state(path, models.build_model())
    payload = checkpoint.read_checkpoint(path)
    payload["model"]["blocks.1.synapse.weight"] = torch.zeros(3)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="blocks.1.synapse.weight"):
        checkpoint.load_model(tmp_path / "bad.pt")


@pytest.mark.parametrize("content", [b"garbage", None, "old"])
def test_unknown_or_broken_files_are_clear_errors(tmp_path, content):
    path = tmp_path / "x.pt"
    if content is None:
        torch.save(models.build_model().state_dict(), path)
    elif content == "old":
        torch.save({"format": checkpoint.FORMAT, "version": 0}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="x.pt"):
        checkpoint.load_model(path)


def _zip(path, members, compression=0):
    import zipfile
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _hostile_files(tmp_path):
    """Crafted checkpoint files (written here), each of which must be one clear error."""
    import zipfile
    good = tmp_path / "good.pt"
    checkpoint.save_checkpoint(good, models.build_model("mlp"))
    raw = good.read_bytes()
    files = {"empty": b"", "text": b"epoch 3, accuracy 0.9\n", "truncated": raw[:len(raw) // 2],
             "truncated-tail": raw[:-10], "bad-pickle": None, "not-a-checkpoint-zip": None,
             "many-members": None, "bomb": None, "code": None}
    for name, content in files.items():
        if content is not None:
            (tmp_path / f"{name}.pt").write_bytes(content)
    _zip(tmp_path / "not-a-checkpoint-zip.pt", {"readme.txt": "hello"})
    _zip(tmp_path / "bad-pickle.pt", {"archive/data.pkl": b"\x80\x02garbage", "archive/version": "3\n"})
    _zip(tmp_path / "many-members.pt", {f"archive/data/{i}": b"" for i in range(checkpoint.MAX_MEMBERS + 1)})
    _zip(tmp_path / "bomb.pt", {"archive/data.pkl": b"\x80\x02}.", "archive/data/0": bytes(64 << 20)},
         compression=zipfile.ZIP_DEFLATED)
    torch.save(_RunsCommand(f"touch {tmp_path / 'marker'}"), tmp_path / "code.pt")
    return [tmp_path / f"{name}.pt" for name in files]


class _RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os
        return os.system, (self.command,)


def test_hostile_checkpoint_files_are_one_clear_error_each(tmp_path):
    for path in _hostile_files(tmp_path) + [tmp_path / "missing.pt", tmp_path]:
        with pytest.raises(CheckpointError) as err:
            checkpoint.load_model(path)
        msg = str(err.value)
        assert msg.startswith(f"checkpoint {str(path)!r}: ") and "\n" not in msg, msg
        assert "weights_only" not in msg and "IndexError" not in msg, msg
    assert not (tmp_path / "marker").exists()
    assert "data.pkl" in _message(tmp_path / "not-a-checkpoint-zip.pt")
    assert "MAX_MEMBERS" in _message(tmp_path / "many-members.pt")
    assert "MAX_RATIO" in _message(tmp_path / "bomb.pt")
    assert "posix.system" in _message(tmp_path / "code.pt")


def test_checkpoint_size_limits_are_checked_before_inflating(tmp_path, monkeypatch):
    path = checkpoint.save_checkpoint(tmp_path / "a.pt", models.build_model("mlp"))
    monkeypatch.setattr(checkpoint, "MAX_UNCOMPRESSED", 1000)
    assert "MAX_UNCOMPRESSED" in _message(path)
    monkeypatch.setattr(checkpoint, "MAX_BYTES", 1000)
    assert "MAX_BYTES" in _message(path)


def _message(path):
    with pytest.raises(CheckpointError) as err:
        checkpoint.read_checkpoint(path)
    return str(err.value)


def test_run_killed_mid_epoch_leaves_a_loadable_checkpoint_and_resumes(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from training import train
    out = tmp_path / "run"
    cmd = ["--timesteps", "2", "--epochs", "3", "--train-limit", "600", "--seed", "1", "--out", str(out),
           "--quiet", "--no-export"]
    proc = subprocess.Popen([sys.executable, "-m", "training.train"] + cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    model, meta = checkpoint.load_model(out / "last.pt")
    assert 1 <= meta["epoch"] < 3 and not (out / "result.json").exists()
    result = train.train(train.build_parser().parse_args(cmd + ["--resume"]))
    assert result["finished"] and result["epochs_done"] == 3 and (out / "result.json").exists()
