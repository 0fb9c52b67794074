"""Every subcommand of ``lava-ternary`` at its argument edges: bad values end in exit code 2 and one line on stderr.

The table is run in this process through :func:`lava_ternary.cli.main`; one subprocess runs the
argument-level part of it in a fresh interpreter and checks that no heavy module (torch, lava, numba) was
imported to answer it, and that ``info`` and ``evaluate`` import neither torchvision nor slayer.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_sim import dense, write_net

from lava_ternary import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A digits network (64 -> 24 -> 10), a 784-input network, a text file, a fake checkpoint, a plain file."""
    tmp = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(5)
    net = write_net(tmp / "digits.net", [dense(24, 64, rng, scale=20, neuron=dict(vth=40)),
                                         dense(10, 24, rng, scale=60, neuron=dict(vth=20))])
    big = write_net(tmp / "mnist.net", [dense(10, 784, rng, scale=20, neuron=dict(vth=40))])
    (tmp / "notes.txt").write_text("not a checkpoint\n")
    return {"NET": net, "BIG": big, "TEXT": str(tmp / "notes.txt"), "FILE": str(tmp / "notes.txt"),
            "UNWRITABLE": str(tmp / "notes.txt" / "out.json"), "DIR": str(tmp), "MISSING": str(tmp / "none.net")}


def call(argv, capsys):
    """``lava-ternary ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def expand(argv, files):
    return [files.get(a, a) for a in argv]


#: (argv, text the one line must contain): answered while parsing, before any heavy import
ARGUMENT_ERRORS = [
    (["bogus"], "invalid choice"),
    (["info", "MISSING"], "no such file"),
    (["info", "TEXT"], "not a netx HDF5 file"),
    (["info", "DIR"], "is a folder"),
    (["info", "NET", "--input-shape", "1,x"], "comma-separated integers"),
    (["info", "NET", "--input-shape", "0,8,8"], "positive integers"),
    (["info", "NET", "--input-shape", "1,2,3,4"], "1 to 3 positive integers"),
    (["evaluate", "MISSING"], "no such file"),
    (["evaluate", "NET", "--population", "0"], "--population: 0 is not an integer >= 1"),
    (["evaluate", "NET", "--limit", "0"], "--limit: 0 is not an integer >= 1"),
    (["evaluate", "NET", "--latency", "-1"], "--latency: -1 is not an integer >= 0"),
    (["evaluate", "NET", "--timesteps", "0"], "--timesteps/-T: 0 is not an integer >= 1"),
    (["evaluate", "NET", "-T", "many"], "'many' is not an integer"),
    (["evaluate", "NET", "--input-message-bits", "0"], "--input-message-bits: 0 is not an integer in 1..24"),
    (["evaluate", "NET", "--input-message-bits", "-1"], "in 1..24"),
    (["evaluate", "NET", "--input-message-bits", "25"], "in 1..24"),
    (["evaluate", "NET", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "NET", "--json", "UNWRITABLE"], "--json"),
    (["evaluate", "NET", "--json", "/proc/lava-ternary-x.json"], "cannot create files"),
    (["evaluate", "NET", "--json", "/proc/lava-ternary/x.json"], "does not exist"),
    (["evaluate", "NET", "--json", "DIR"], "is a directory"),
    (["evaluate", "NET", "--root", "MISSING"], "no such folder"),
    (["evaluate", "NET", "--split", "dev"], "invalid choice"),
    (["run", "NET", "--latency", "-1"], "--latency: -1 is not an integer >= 0"),
    (["run", "NET", "--chunk", "0"], "--chunk: 0 is not an integer >= 1"),
    (["run", "NET", "--samples", "0"], "--samples"),
    (["run", "NET", "--population", "0"], "--population"),
    (["run", "NET", "--checkpoint", "MISSING"], "no such file"),
    (["run", "NET", "--checkpoint", "TEXT"], "not a PyTorch checkpoint"),
    (["verify", "mod:make", "MISSING", "NET", "FILE"], "no such file"),
    (["verify", "mod:make", "TEXT", "NET", "FILE"], "not a PyTorch checkpoint"),
    (["verify", "--samples", "0", "mod:make", "TEXT", "NET", "FILE"], "--samples"),
    (["verify", "--input-shape", "0,8,8", "mod:make", "TEXT", "NET", "FILE"], "positive integers"),
    (["run", "NET", "--input-shape", "1,-8,8"], "positive integers"),
    (["run", "NET", "--json", "UNWRITABLE"], "--json"),
    (["run", "NET", "--tag", "float"], "invalid choice"),
    (["report", "MISSING"], "no such file"),
    (["report", "NET", "--population", "0"], "--population"),
    (["report", "NET", "--samples", "0"], "--samples"),
    (["report", "NET", "--out", "FILE"], "is a file, not a folder"),
    (["report", "NET", "--compare", "MISSING"], "no such file"),
    (["report", "NET", "--energy", "paper.sop_j"], "is not KEY=VALUE"),
    (["report", "NET", "--chip", "loihi3"], "invalid choice"),
    (["export", "MISSING", "out.net"], "no such file"),
    (["export", "TEXT", "out.net"], "not a PyTorch checkpoint"),
    (["loihi", "MISSING"], "no such file"),
    (["loihi", "NET", "--samples", "0"], "--samples"),
    (["train", "--epochs", "0"], "--epochs: 0 is not an integer >= 1"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--lr", "0"], "--lr: 0 is not a finite number > 0"),
    (["train", "--lr", "nan"], "finite"),
    (["train", "--timesteps", "0"], "--timesteps"),
    (["train", "--population", "0"], "--population"),
    (["train", "--width", "0"], "--width"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--threads", "0"], "--threads"),
    (["train", "--train-limit", "0"], "--train-limit"),
    (["train", "--stop-after", "0"], "--stop-after"),
    (["train", "--weight-decay", "-1"], "--weight-decay"),
    (["train", "--device", "gpu"], "--device"),
    (["train", "--data-root", "MISSING"], "no such folder"),
    (["train", "--out", "FILE"], "is a file, not a folder"),
    (["convert", "--seeds", "-1"], "--seeds"),
    (["convert", "--timesteps", "0"], "--timesteps"),
    (["convert", "--calib-samples", "0"], "--calib-samples"),
    (["convert", "--calib-epochs", "-1", "2"], "--calib-epochs"),
    (["convert", "--out", "FILE"], "is a file, not a folder"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "-T", "0"], "--timesteps"),
    (["demo", "--samples", "0"], "--samples"),
    (["demo", "--out", "FILE"], "is a file, not a folder"),
    (["smoke", "--steps", "0"], "--steps: 0 is not an integer >= 1"),
    (["smoke", "--steps", "x"], "--steps"),
]

#: (argv, text): answered after reading the network file and the dataset description, before simulating
RUN_ERRORS = [
    (["evaluate", "NET", "--input-message-bits", "2"], "cannot carry digits's input range 0..16 (needs 5 bits"),
    (["evaluate", "NET", "--population", "3"], "--population 3: the network's 10 output neurons"),
    (["report", "NET", "--population", "2", "--samples", "2"], "--population 2"),
    (["evaluate", "NET", "--input-shape", "1,4,4"], "--input-shape 1,4,4 holds 16 values"),
    (["evaluate", "BIG", "--limit", "2"], "784 inputs do not match"),
    (["run", "BIG", "--samples", "2"], "784 inputs do not match"),
    (["evaluate", "NET", "--dataset", "imagenet"], "--dataset"),
    (["train", "--model", "resnet1000"], "--model: 'resnet1000' is not one of"),
    (["train", "--neuron", "quaternary"], "--neuron"),
    (["train", "--dataset", "imagenet"], "--dataset"),
    (["convert", "--methods", "magic"], "--methods: 'magic' is not one of"),
]


def assert_one_line(code, out, err, text):
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lava-ternary") and ": error: " in lines[0], lines[0]
    assert text in lines[0], lines[0]
    assert "Traceback" not in out + err


@pytest.mark.parametrize("argv,text", ARGUMENT_ERRORS + RUN_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_value_is_one_line_and_exit_2(argv, text, files, capsys):
    assert_one_line(*call(expand(argv, files), capsys), text)


def test_argument_errors_need_no_heavy_import_and_info_evaluate_no_slayer(files, tmp_path):
    """In a fresh interpreter: the argument table imports none of torch/lava/numba; info neither torch nor numba;
    info and evaluate no slayer;
    slayer imported afterwards (under the command line's filter) prints neither lava-dl notice."""
    script = (
        "import io, json, sys, contextlib\n"
        "from lava_ternary import cli\n"
        "def call(argv):\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):\n"
        "        try:\n            code = cli.main(argv)\n        except SystemExit as stop:\n            code = stop.code\n"
        "    return code, err.getvalue()\n"
        "heavy = lambda: sorted(m for m in ('torch', 'torchvision', 'numba', 'h5py', 'lava', 'lava.lib.dl.slayer', "
        "'sklearn') if m in sys.modules)\n"
        "cases = json.loads(sys.argv[1])\n"
        "codes = [call(argv) for argv in cases]\n"
        "after_args = heavy()\n"
        "info = call(['info', sys.argv[2]])\n"
        "after_info = heavy()\n"
        "evaluate = call(['evaluate', sys.argv[2], '--limit', '3', '-q'])\n"
        "after_evaluate = heavy()\n"
        "import lava.lib.dl.slayer\n"
        f"prophesee = {cli.PROPHESEE_MODULE!r} in sys.modules\n"
        "print(json.dumps(dict(codes=codes, after_args=after_args, info=info, after_info=after_info, "
        "evaluate=evaluate, after_evaluate=after_evaluate, prophesee=prophesee)))\n")
    cases = [expand(argv, files) for argv, _ in ARGUMENT_ERRORS]
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(cases), files["NET"]], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [code for code, _ in report["codes"]] == [2] * len(cases)
    assert all(len(err.strip().splitlines()) == 1 for _, err in report["codes"])
    assert report["after_args"] == []
    assert report["info"] == [0, ""] and not {"torch", "numba"} & set(report["after_info"])
    assert report["evaluate"][0] == 0 and report["evaluate"][1] == ""
    assert not {"torchvision", "lava.lib.dl.slayer"} & set(report["after_evaluate"])
    assert report["prophesee"] and len(proc.stdout.strip().splitlines()) == 1
    assert "Prophesee" not in proc.stdout + proc.stderr and "No CUDA runtime" not in proc.stderr


def test_short_latency_warns_with_the_consequence(files, capsys):
    code, out, err = call(["evaluate", files["NET"], "--latency", "1", "--limit", "8", "-q"], capsys)
    assert code == 0 and "accuracy" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "warning: --latency 1 is shorter than the network's 2 neuron layers" in lines[0]
    assert "accuracy will be lower" in lines[0]


def test_too_many_samples_warn_and_use_the_split(files, capsys, tmp_path):
    code, out, err = call(["evaluate", files["NET"], "--limit", "5000", "-q", "--json", str(tmp_path / "e.json")],
                          capsys)
    assert code == 0 and "--limit 5000: the split holds 360 samples; using all 360" in err
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["samples"] == 360 and result["steps_per_sample"] == result["timesteps"] + result["latency"]


def test_quiet_evaluate_prints_only_the_result(files, capsys):
    code, out, err = call(["evaluate", files["NET"], "--limit", "4", "-q"], capsys)
    assert code == 0 and err == "" and len(out.strip().splitlines()) == 1
    assert "4 input steps + 2 latency steps per sample" in out


def test_loihi_without_the_extension_points_to_lava_ternary_run(files, capsys):
    code, out, err = call(["loihi", files["NET"]], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("lava-ternary loihi: error:") and "lava-ternary run" in err


def test_every_subcommand_has_help_named_lava_ternary(capsys):
    code, out, _ = call(["--help"], capsys)
    assert code == 0
    names = ["train", "convert", "export", "run", "evaluate", "report", "loihi", "demo", "info", "smoke"]
    for name in names:
        assert name in out
        code, out_sub, _ = call([name, "--help"], capsys)
        assert code == 0 and out_sub.startswith(f"usage: lava-ternary {name}"), (name, out_sub[:80])
        assert len(out_sub.splitlines()) > 3


def test_check_writable(tmp_path):
    from lava_ternary.io_utils import OutputPathError, check_writable

    assert check_writable(tmp_path / "x.json") == tmp_path / "x.json"
    assert check_writable(tmp_path / "a" / "b" / "x.json", create_parents=True) == tmp_path / "a" / "b" / "x.json"
    with pytest.raises(OutputPathError, match="does not exist"):
        check_writable(tmp_path / "c" / "x.json")
    with pytest.raises(OutputPathError, match="directory"):
        check_writable(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="not a directory"):
        check_writable(tmp_path / "f" / "x.json", create_parents=True)