"""``lava-ternary simulate``: every argument at its edges, and a round trip against ``sim.simulate`` itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import run, write_digits_net
from test_sim import dense, write_net

from lava_ternary import block as tblock
from lava_ternary import sim
from lava_ternary.netx import export_hdf5

PARAMS = dict(threshold=0.5, current_decay=0.5, voltage_decay=0.25)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dense_net(tmp_path_factory):
    return write_digits_net(tmp_path_factory.mktemp("simulate") / "dense.net")


@pytest.fixture(scope="module")
def conv_net(tmp_path_factory):
    """Conv -> Pool -> Flatten -> Dense exported from this package's blocks (an input layer of shape 2,6,6)."""
    torch.manual_seed(0)
    blocks = [tblock.Conv(PARAMS, 2, 4, 3, padding=1, weight_scale=3, input_shape=(2, 6, 6)),
              tblock.Pool(PARAMS, 2, weight_scale=2, input_amplitude="layer"), tblock.Flatten(),
              tblock.Dense(PARAMS, 4 * 9, 5, weight_scale=3, input_amplitude="layer")]
    path = tmp_path_factory.mktemp("simulate") / "conv.net"
    export_hdf5(blocks, path)
    return path


def save(folder, name, array):
    path = folder / name
    np.save(path, array)
    return path


def simulate_cli(capsys, net, x_path, out, *extra):
    return run(["simulate", net, "--input", x_path, "--out", out, *extra], capsys)


def test_round_trip_equals_the_simulator(conv_net, capsys, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (7, 2, 6, 6, 5)).astype(np.int16)
    code, out, err = simulate_cli(capsys, conv_net, save(tmp_path, "x.npy", x), tmp_path / "y.npz")
    assert code == 0 and not err
    layers = sim.compile_network(conv_net)
    expected = sim.simulate(layers, x.astype(np.int64), input_message_bits=3)  # -3..3 needs 3 bits
    with np.load(tmp_path / "y.npz") as saved:
        assert sorted(saved.files) == [f"layer_{layer.index}" for layer in expected.layers] \
            == ["layer_1", "layer_2", "layer_4"]
        for layer, spikes in zip(expected.layers, expected.spikes):
            np.testing.assert_array_equal(saved[f"layer_{layer.index}"], spikes)
        assert saved["layer_1"].shape == (7, 4, 6, 6, 5) and saved["layer_4"].shape == (7, 5, 5)
    assert sum(int(np.count_nonzero(s)) for s in expected.spikes) > 100
    for layer, spikes in zip(expected.layers, expected.spikes):
        assert f"layer_{layer.index}: " in out and f"{int(np.count_nonzero(spikes))} messages" in out


def test_one_sample_without_batch_axis_and_explicit_bits(dense_net, capsys, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 17, (64, 6))
    code, _, err = simulate_cli(capsys, dense_net, save(tmp_path, "x.npy", x.astype(np.float32)),
                                tmp_path / "y.npz", "--input-message-bits", "8")
    assert code == 0 and not err
    expected = sim.simulate(sim.compile_network(dense_net), x[None], input_message_bits=8)
    with np.load(tmp_path / "y.npz") as saved:
        assert saved["layer_0"].shape == (24, 6) and saved["layer_1"].shape == (10, 6)
        np.testing.assert_array_equal(saved["layer_1"], expected.spikes[1][0])


def test_binary_input_with_zero_bits(dense_net, capsys, tmp_path):
    x = (np.random.default_rng(3).random((4, 64, 5)) < 0.5).astype(np.bool_)
    code, _, _ = simulate_cli(capsys, dense_net, save(tmp_path, "x.npy", x), tmp_path / "y.npz",
                              "--input-message-bits", "0")
    assert code == 0
    expected = sim.simulate(sim.compile_network(dense_net), x.astype(np.int64), input_message_bits=0)
    with np.load(tmp_path / "y.npz") as saved:
        np.testing.assert_array_equal(saved["layer_1"], expected.spikes[1])


def test_the_widest_input_runs(dense_net, capsys, tmp_path):
    x = np.zeros((2, 64, 3), np.int64)
    x[0, :5, 0], x[1, 3:9, 1] = 2 ** 24 - 1, 7  # 24 bits, the most a message carries
    code, out, _ = simulate_cli(capsys, dense_net, save(tmp_path, "x.npy", x), tmp_path / "y.npz")
    assert code == 0
    expected = sim.simulate(sim.compile_network(dense_net), x, input_message_bits=24)
    with np.load(tmp_path / "y.npz") as saved:
        np.testing.assert_array_equal(saved["layer_0"], expected.spikes[0])
    assert np.count_nonzero(expected.spikes[0])


def test_input_shape_for_a_file_without_input_layer(dense_net, capsys, tmp_path):
    x = np.random.default_rng(4).integers(0, 2, (3, 1, 8, 8, 4))
    code, _, _ = simulate_cli(capsys, dense_net, save(tmp_path, "x.npy", x), tmp_path / "y.npz",
                              "--input-shape", "1,8,8")
    assert code == 0
    expected = sim.simulate(sim.compile_network(dense_net), x.reshape(3, 64, 4), input_message_bits=1)
    with np.load(tmp_path / "y.npz") as saved:
        np.testing.assert_array_equal(saved["layer_0"], expected.spikes[0])


def test_failure_leaves_an_existing_output_untouched(dense_net, capsys, tmp_path):
    out = tmp_path / "y.npz"
    out.write_bytes(b"previous")
    code, _, _ = simulate_cli(capsys, dense_net, save(tmp_path, "x.npy", np.zeros((64, 3, 2))), out)
    assert code == 2 and out.read_bytes() == b"previous"


BAD_INPUTS = [
    ("fraction", np.full((2, 64, 3), 0.5), "are not all integers"),
    ("nan", np.full((2, 64, 3), np.nan), "are not all integers"),
    ("complex", np.zeros((2, 64, 3), np.complex64), "is not an integer array"),
    ("text", np.array([["a"]]), "is not an integer array"),
    ("wrong-shape", np.zeros((2, 63, 3), np.int64), "neither [batch, 64, T] nor [64, T]"),
    ("no-time", np.zeros((2, 64, 0), np.int64), "no samples or no time steps"),
    ("no-batch", np.zeros((0, 64, 3), np.int64), "no samples or no time steps"),
    ("scalar", np.int64(3), "neither [batch, 64, T] nor [64, T]"),
    ("too-wide", np.full((1, 64, 2), 2 ** 24), "need 25 message bits; the simulator carries at most 24"),
    ("too-wide-signed", np.full((1, 64, 2), -2 ** 23), "need 25 message bits; the simulator carries at most 24"),
]


@pytest.mark.parametrize("name,array,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_arrays_give_one_line(dense_net, capsys, tmp_path, name, array, message):
    code, out, err = simulate_cli(capsys, dense_net, save(tmp_path, f"{name}.npy", array), tmp_path / "y.npz")
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert message in err and "--input" in err
    assert not (tmp_path / "y.npz").exists()


def test_bad_files_and_arguments_give_one_line(dense_net, capsys, tmp_path):
    x = save(tmp_path, "x.npy", np.random.default_rng(0).integers(-2, 3, (2, 64, 3)))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "garbage.net").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    out = tmp_path / "y.npz"
    cases = [
        (["simulate", "/no/such.net", "--input", x, "--out", out], "no such file"),
        (["simulate", tmp_path / "x.npy", "--input", x, "--out", out], "not a netx HDF5 file"),
        (["simulate", tmp_path / "garbage.net", "--input", x, "--out", out], "garbage.net"),
        (["simulate", dense_net, "--input", tmp_path / "none.npy", "--out", out], "no such file"),
        (["simulate", dense_net, "--input", dense_net, "--out", out], "not a .npy file"),
        (["simulate", dense_net, "--input", tmp_path, "--out", out], "is a folder"),
        (["simulate", dense_net, "--input", tmp_path / "objects.npy", "--out", out], "without pickle"),
        (["simulate", dense_net, "--out", out], "required: --input"),
        (["simulate", dense_net, "--input", x], "required: --out"),
        (["simulate", dense_net, "--input", x, "--out", tmp_path / "no" / "y.npz"], "does not exist"),
        (["simulate", dense_net, "--input", x, "--out", tmp_path], "is a directory"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-message-bits", "-1"], "0..24"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-message-bits", "25"], "0..24"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-message-bits", "two"], "0..24"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-message-bits", "2"], "needs 3 bits"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-message-bits", "0"], "binary spikes"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-shape", "0,8"], "positive integers"),
        (["simulate", dense_net, "--input", x, "--out", out, "--input-shape", "1,8,8"], "[batch, 1,8,8, T]"),
    ]
    for argv, message in cases:
        code, stdout, err = run(argv, capsys)
        assert code == 2 and not stdout, (argv, stdout, err)
        assert len(err.strip().splitlines()) == 1 and message in err, (argv, err)
    assert not out.exists()


def test_help(capsys):
    code, out, _ = run(["simulate", "--help"], capsys)
    assert code == 0 and "--input-message-bits" in out and "layer_<index>" in out


def test_checks_come_before_the_simulator_loads(dense_net, tmp_path):
    """In a fresh interpreter: argument errors import none of torch/lava/numba/h5py, input errors none of
    torch/lava/numba (the network file is read, the simulator is not loaded)."""
    x = save(tmp_path, "x.npy", np.zeros((2, 64, 3), np.int64))
    arguments = [["simulate", "/no/such.net", "--input", str(x), "--out", str(tmp_path / "y.npz")],
                 ["simulate", dense_net, "--input", str(x), "--out", str(tmp_path / "y.npz"),
                  "--input-message-bits", "25"],
                 ["simulate", dense_net, "--input", str(x), "--out", str(tmp_path / "no" / "y.npz")]]
    inputs = [["simulate", dense_net, "--input", str(save(tmp_path, "f.npy", np.full((2, 64, 3), 0.5))),
               "--out", str(tmp_path / "y.npz")],
              ["simulate", dense_net, "--input", str(save(tmp_path, "s.npy", np.zeros((2, 8, 3), np.int64))),
               "--out", str(tmp_path / "y.npz")],
              ["simulate", dense_net, "--input", str(save(tmp_path, "b.npy", np.full((2, 64, 3), 9))),
               "--out", str(tmp_path / "y.npz"), "--input-message-bits", "2"]]
    script = (
        "import io, json, sys, contextlib\n"
        "from lava_ternary import cli\n"
        "def call(argv):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n            return cli.main(argv)\n        except SystemExit as stop:\n            return stop.code\n"
        "heavy = lambda: sorted(m for m in ('torch', 'numba', 'h5py', 'lava') if m in sys.modules)\n"
        "arguments, inputs = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        "codes = [call(argv) for argv in arguments]\n"
        "after_arguments = heavy()\n"
        "codes += [call(argv) for argv in inputs]\n"
        "print(json.dumps(dict(codes=codes, after_arguments=after_arguments, after_inputs=heavy())))\n")
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(arguments), json.dumps(inputs)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["codes"] == [2] * 6
    assert report["after_arguments"] == [] and report["after_inputs"] == ["h5py"]


def test_input_bias_drives_the_input_neuron_group(capsys, tmp_path):
    """--input-bias is simulate(input_bias=...): the input neuron's bias mantissas, as lava-dl's tests drive inputs."""
    net = write_net(tmp_path / "in.net", [dict(type="input", shape=[2, 1, 3], neuron=dict(vth=20, i_decay=4096)),
                                          dict(type="flatten", shape=[6]), dense(2, 6, np.random.default_rng(2),
                                                                                  neuron=dict(vth=5))])
    x = np.zeros((2, 2, 1, 3, 6), np.int64)
    bias = np.array([[[40, -60, 0]], [[25, 0, -90]]])
    code, out, err = simulate_cli(capsys, net, save(tmp_path, "x.npy", x), tmp_path / "y.npz", "--input-bias",
                                  save(tmp_path, "b.npy", bias))
    assert code == 0 and not err
    expected = sim.simulate(sim.compile_network(net), x, input_message_bits=1, input_bias=bias)
    with np.load(tmp_path / "y.npz") as saved:
        assert np.array_equal(saved["layer_0"], expected.spikes[0]) and np.any(saved["layer_0"] < 0)
    code, out, err = simulate_cli(capsys, net, save(tmp_path, "x.npy", x), tmp_path / "z.npz", "--input-bias",
                                  save(tmp_path, "bad.npy", np.ones(4)))
    assert code == 2 and "--input-bias" in err and "per channel" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "z.npz").exists()
