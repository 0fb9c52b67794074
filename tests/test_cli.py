"""The subcommands (``commands.register``), ``deploy/evaluate.py`` and ``deploy/report.py``: results and exit codes."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_sim import dense, write_net

from lava_ternary import cli, sim
from lava_ternary.parity import default_message_bits
from training.data import load_split


def run(argv, capsys):
    """``lava-ternary ARGV`` in this process; (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def write_digits_net(path):
    """A dense 64 -> 24 -> 10 ternary network for 8x8 digits without an input layer (seeded weights)."""
    rng = np.random.default_rng(5)
    return write_net(path, [dense(24, 64, rng, scale=20, neuron=dict(vth=40)),
                            dense(10, 24, rng, scale=60, neuron=dict(vth=20))])


@pytest.fixture(scope="module")
def digits_net(tmp_path_factory):
    return write_digits_net(tmp_path_factory.mktemp("cli") / "digits.net")


def test_info_prints_the_table(digits_net, capsys):
    code, out, err = run(["info", digits_net], capsys)
    assert code == 0 and not err
    assert out.startswith("|   Type   |  W  |  H  |  C  |")
    assert "2 layers, 34 neurons, 1776 stored weights" in out


@pytest.mark.parametrize("argv", [["info", "/no/such.net"], ["evaluate", "/no/such.net"],
                                  ["report", "/no/such.net", "--samples", "2"]])
def test_bad_paths_give_one_line_and_exit_2(argv, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "no such file" in err


def test_bad_arguments_give_one_line_and_exit_2(digits_net, capsys, tmp_path):
    code, _, err = run(["evaluate", digits_net, "--timesteps", "many"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run(["evaluate", digits_net, "--timesteps", "0"], capsys)
    assert code == 2 and "--timesteps" in err
    code, _, err = run(["info", digits_net, "--input-shape", "1,x"], capsys)
    assert code == 2 and "comma-separated integers" in err
    code, _, err = run(["report", digits_net, "--energy", "paper.nope=1", "--out", str(tmp_path)], capsys)
    assert code == 2 and "unknown EnergyConvention field 'nope'" in err


def test_help_of_wrapped_scripts(capsys):
    code, out, _ = run(["evaluate", "--help"], capsys)
    assert code == 0 and "--dataset" in out


def test_evaluate_reports_the_simulated_accuracy(digits_net, capsys, tmp_path):
    code, out, _ = run(["evaluate", digits_net, "--dataset", "digits", "-T", "3", "--limit", "40",
                        "--batch-size", "16", "--json", str(tmp_path / "e.json")], capsys)
    assert code == 0 and "digits test accuracy" in out
    result = json.loads((tmp_path / "e.json").read_text())
    data = load_split("digits", "test", 3)
    x, labels = data.batch(range(40))
    x = np.pad(x.numpy().astype(np.int64), [(0, 0)] * 4 + [(0, 2)])  # 2 neuron layers = 2 steps of latency
    layers = sim.compile_network(digits_net)
    out_spikes = sim.simulate(layers, x, input_message_bits=default_message_bits(np.array([16]))).output
    expected = int((sim.predictions(out_spikes, skip=2) == labels.numpy()).sum())
    assert (result["samples"], result["latency"], result["correct"]) == (40, 2, expected)
    assert result["accuracy"] == pytest.approx(expected / 40)


def test_report_writes_table_json_png_and_table5(digits_net, capsys, tmp_path):
    code, out, _ = run(["report", digits_net, "--compare", digits_net, "--samples", "12", "-T", "2",
                        "--loihi", "neurons_per_core=16", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "loihi2 fit: 3 cores" in out and "Ternary Spike" in out and "+0.00%" in out
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["loihi"]["limits"]["neurons_per_core"] == 16 and data["samples"] == 12
    assert data["comparison"]["ternary"]["extra_energy_pct"] == 0
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
