"""The ternary-versus-binary study runs on MNIST when its folder is given (tiny fixture in the real idx format)."""
import json

import numpy as np

from test_data import _mnist_folder
from training import study


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
