"""The ternary-versus-binary study on local datasets (tiny fixtures in the real on-disk formats): MNIST and the
CIFAR-10 VGG configuration, shrunk to run on CPU."""
import json
import os
import re
import subprocess
import sys

import numpy as np

from fixtures import write_cifar
from test_data import _mnist_folder
from training import checkpoint, data, models, study


def test_study_on_a_local_mnist_folder(tmp_path):
    _mnist_folder(tmp_path / "data", "MNIST", np.random.default_rng(0))
    out = tmp_path / "results"
    assert study.main(["--config", "mnist", "--data-root", str(tmp_path / "data"), "--seeds", "1", "--epochs", "1",
                       "--out", str(out), "--work", str(tmp_path / "runs")]) == 0
    runs = json.loads((out / "study_mnist.json").read_text())["runs"]
    assert {(r["neuron"], r["timesteps"]) for r in runs} == {(n, t) for n in ("binary", "ternary", "ternary-learned")
                                                             for t in (1, 2, 4)}
    assert all(0 <= r["test_accuracy"] <= 1 and r["lava_accuracy"] == r["test_accuracy"] for r in runs)
    assert (out / "study_mnist.md").read_text().startswith("# Ternary vs binary spikes on mnist")
    assert (out / "study_membrane_mnist.png").stat().st_size > 0


def test_cifar10_vgg_study_runs_end_to_end_on_cpu(tmp_path):
    """``--config cifar10`` (VGG) with the device, T and width shrunk: every net is trained, exported to netx
    and run through the fast simulator, which predicts exactly what PyTorch predicts."""
    write_cifar(tmp_path / "data", "cifar10", np.random.default_rng(0), train_per_file=20, test_samples=10)
    out, work = tmp_path / "results", tmp_path / "runs"
    assert study.main(["--config", "cifar10", "--device", "cpu", "--data-root", str(tmp_path / "data"),
                       "--seeds", "1", "--epochs", "1", "--timesteps", "1", "--width", "4", "--train-limit", "30",
                       "--no-verify-checksums",  # a fixture cannot match the md5 sums of the published files
                       "--out", str(out), "--work", str(work)]) == 0

    runs = json.loads((out / "study_cifar10.json").read_text())["runs"]
    assert [(r["neuron"], r["timesteps"], r["seed"]) for r in runs] == [(n, 1, 0) for n in models.NEURONS]
    assert "vgg" in models.DEPLOYABLE
    for r in runs:
        assert {"neuron", "timesteps", "seed", "test_accuracy", "lava_accuracy"} <= set(r)
        assert 0 <= r["test_accuracy"] <= 1 and isinstance(r["lava_accuracy"], float)
        assert r["lava_accuracy"] == r["test_accuracy"]
        run_dir = work / f"{r['neuron']}-T1-s0"
        assert (run_dir / "model.net").stat().st_size > 0
        assert checkpoint.load_model(run_dir / "best.pt")[0].config["name"] == "vgg"
    # the simulator's agreement is not the trivial one of a silent net: the ternary VGG fires up to its output
    model, _ = checkpoint.load_model(work / "ternary-T1-s0" / "best.pt")
    x = data.load_split("cifar10", "test", 1, signed=True, root=tmp_path / "data",
                        verify_checksums=False).batch(range(10))[0]
    assert model(x).abs().sum() > 0
    ternary = next(r for r in runs if r["neuron"] == "ternary")
    assert study.lava_accuracy(work / "ternary-T1-s0", "cifar10", tmp_path / "data", batch_size=3, verify_checksums=False) \
        == ternary["lava_accuracy"]

    md = (out / "study_cifar10.md").read_text()
    assert md.startswith("# Ternary vs binary spikes on cifar10 (vgg SNN")
    assert re.search(r"^\| ternary-learned \| \d\.\d{3} ± \d\.\d{3} / \d\.\d{3} \|$", md, re.M)
    for name in ("study_curves_cifar10.png", "study_membrane_cifar10.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cifar10_without_cuda_is_one_line_and_exit_code_2(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # no CUDA device, also on a GPU machine
    proc = subprocess.run([sys.executable, "-m", "training.study", "--config", "cifar10", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if "training.study" in l]
    assert lines == ["python -m training.study: error: --config cifar10 uses device 'cuda' but there is no CUDA "
                     "device here: pass --device cpu"]
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_study_on_mnist5k_and_on_a_users_npz_file(tmp_path):
    """The embedded mnist5k (shrunk: 200 training images, one epoch, T = 1) and a user's ``--dataset npz:PATH``:
    every network is trained, exported and run through the fast simulator, which agrees with PyTorch."""
    from test_data import _digits_npz
    out = tmp_path / "results"
    small = ["--seeds", "1", "--epochs", "1", "--timesteps", "1", "--train-limit", "200", "--out", str(out)]
    assert study.main(["--config", "mnist5k", "--work", str(tmp_path / "m"), *small]) == 0
    runs = json.loads((out / "study_mnist5k.json").read_text())["runs"]
    assert [(r["neuron"], r["timesteps"], r["seed"]) for r in runs] == [(n, 1, 0) for n in models.NEURONS]
    assert all(r["lava_accuracy"] == r["test_accuracy"] for r in runs)
    assert max(r["test_accuracy"] for r in runs) > 0.3  # trained nets, not silent ones agreeing on one class
    assert (out / "study_mnist5k.md").read_text().startswith("# Ternary vs binary spikes on mnist5k")
    assert checkpoint.load_model(tmp_path / "m" / "ternary-T1-s0" / "best.pt")[1]["dataset"] == "mnist5k"

    name = _digits_npz(tmp_path / "mydigits.npz", with_test=True)
    assert study.main(["--dataset", name, "--work", str(tmp_path / "n"), "--jobs", "2", *small]) == 0  # in parallel
    runs = json.loads((out / "study_mydigits.json").read_text())["runs"]
    assert len(runs) == 3 and all(r["lava_accuracy"] == r["test_accuracy"] for r in runs)
    assert "spikes on npz:" in (out / "study_mydigits.md").read_text().splitlines()[0]
    for png in ("study_curves_mydigits.png", "study_membrane_mydigits.png"):
        assert (out / png).stat().st_size > 0
