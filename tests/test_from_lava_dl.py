"""A lava-dl user's own script deploys exactly what it trained (issue 12).

Tutorial-style networks (own Module with a ModuleList and a loop forward, or ``nn.Sequential``) of
lava_ternary blocks with learnable amplitudes (per layer and per channel), conv + pool, and axonal
delays, trained for a few optimiser steps on digits, exported by the tutorials' per-block loop and by
``lava_ternary.netx.export_hdf5``: the layer groups are identical, export changes nothing in the
model, and Lava ``fixed_pt`` and the simulator match torch spike for spike in every layer, also
after a ``state_dict`` round trip. Kept small: Lava runs are slow here.
"""
import lava_ternary  # noqa: F401  (lava import fix first)

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from deploy import verify as verify_cli
from lava_ternary.netx import export_hdf5
import tutorial_net

SAMPLES, T = 12, 2
ROOT = Path(__file__).resolve().parents[1]


def digits(shape, latency, start, count):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images[start:start + count], dtype=torch.float32).reshape((count,) + shape + (1,))
    x = x.repeat((1,) * (x.dim() - 1) + (T,))
    return torch.nn.functional.pad(x, (0, latency)), torch.tensor(d.target[start:start + count])


def train(model, shape, latency, steps=8):
    """A few Adam steps (the user's own loop); amplitudes and delays move."""
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for step in range(steps):
        x, y = digits(shape, latency, 64 * step, 64)
        loss = torch.nn.functional.cross_entropy(model(x)[..., latency:].sum(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def groups(path):
    """{layer index: {dataset path: (dtype, shape, value)}} of a netx file."""
    out = {}
    with h5py.File(path, "r") as f:
        for name, group in f["layer"].items():
            data = {}
            group.visititems(lambda key, obj: data.__setitem__(key, (obj.dtype, obj.shape, obj[()]))
                             if isinstance(obj, h5py.Dataset) else None)
            out[int(name)] = data
    return out


def assert_same_groups(a, b):
    assert a.keys() == b.keys()
    for key in a:
        (dt_a, sh_a, v_a), (dt_b, sh_b, v_b) = a[key], b[key]
        assert (dt_a, sh_a) == (dt_b, sh_b), key
        assert np.array_equal(v_a, v_b), key


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}


def check_exact(result):
    assert all(layer.lava == 0 and layer.sim == 0 for layer in result.layers), result.report()
    assert result.lava_equal == result.sim_equal == result.samples, result.report()
    assert all(layer.spikes > 0 for layer in result.layers), result.report()


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The trained tutorial network, both exports, and its test input."""
    torch.manual_seed(0)
    model = train(tutorial_net.Network(), (1, 8, 8), latency=5)
    folder = tmp_path_factory.mktemp("tutorial")
    x, _ = digits((1, 8, 8), 5, 1500, SAMPLES)
    with torch.no_grad():
        before, state = model(x), snapshot(model)
    model.export_hdf5(folder / "loop.net")  # the tutorials' per-block loop
    export_hdf5(model, folder / "package.net")
    with torch.no_grad():
        after = model(x)
    return model, folder, x, before, after, state


def test_tutorial_network_exports_both_ways_without_changing_the_model(tutorial):
    model, folder, x, before, after, state = tutorial
    amplitudes = [b.input_amplitude for b in model.blocks if getattr(b, "input_amplitude", None) is not None]
    assert len(amplitudes) == 4 and all((a - 1).abs().max() > 0.02 for a in amplitudes)  # learned, per channel too
    assert torch.equal(before, after) and (after != 0).any()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    loop, package = groups(folder / "loop.net"), groups(folder / "package.net")
    assert [package[0]["type"][2][0], len(package)] == [b"input", len(loop) + 1]  # the leading conv's input shape
    for index, data in loop.items():
        assert_same_groups(data, package[index + 1])
    assert not any("amplitude" in key for data in loop.values() for key in data)


@pytest.mark.parametrize("path", ["loop.net", "package.net"])
def test_tutorial_network_is_spike_exact_on_lava_and_the_simulator(tutorial, path):
    model, folder, x, *_ = tutorial
    result = lava_ternary.verify(model, folder / path, x, skip=5)  # loop.net: input shape from x
    check_exact(result)
    assert [layer.index for layer in result.layers] == ([0, 1, 2, 4, 5] if path == "loop.net" else [1, 2, 3, 5, 6])


def test_state_dict_round_trip_and_verify_command(tutorial, tmp_path, capsys):
    model, folder, x, before, *_ = tutorial
    torch.save(model.state_dict(), tmp_path / "state.pt")
    fresh = tutorial_net.conv_net()
    fresh.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(fresh(x), before)
    fresh.export_hdf5(tmp_path / "fresh.net")
    assert_same_groups(groups(tmp_path / "fresh.net")[4], groups(folder / "loop.net")[4])
    np.save(tmp_path / "x.npy", x.numpy())
    args = ["tutorial_net:conv_net", str(tmp_path / "state.pt"), str(folder / "loop.net"),
            str(tmp_path / "x.npy"), "--skip", "5", "--no-lava"]
    assert verify_cli.main(args) == 0
    out = capsys.readouterr().out
    assert "EXACT" in out and f"sim {SAMPLES}/{SAMPLES}" in out
    assert verify_cli.main(["tutorial_net:nothing"] + args[1:]) == 2
    assert "has no function 'nothing'" in capsys.readouterr().err


def test_delayed_sequential_after_state_dict_round_trip_is_spike_exact(tmp_path):
    torch.manual_seed(1)
    trained = tutorial_net.delayed_sequential()
    delays = [b.delay.delay for b in trained if b.delay is not None]
    with torch.no_grad():  # a spread of delays, as a longer training gives (slayer starts them in [0, 1))
        delays[0].add_(torch.arange(24) % 4)
        delays[1].add_(torch.arange(16) % 3)
    start = [d.detach().clone() for d in delays]
    train(trained, (64,), latency=7)
    assert all(not torch.equal(d, s) for d, s in zip(delays, start))  # the delays learn
    model = tutorial_net.delayed_sequential()
    model.load_state_dict(trained.state_dict())
    x, _ = digits((64,), 7, 1500, SAMPLES)
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))
    export_hdf5(model, tmp_path / "package.net")
    with h5py.File(tmp_path / "loop.net", "w") as h:
        layer = h.create_group("layer")
        for i, b in enumerate(model):
            b.export_hdf5(layer.create_group(f"{i}"))
    package, loop = groups(tmp_path / "package.net"), groups(tmp_path / "loop.net")
    for index in loop:
        assert_same_groups(loop[index], package[index])
    assert package[0]["delay"][2].tolist() == delays[0].detach().clamp(0, 62).floor().int().tolist()
    check_exact(lava_ternary.verify(model, tmp_path / "loop.net", x, skip=7))


def readme_snippet():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Using it like lava-dl"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_snippet_trains_and_deploys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(readme_snippet(), "README.md", "exec"), scope)
    assert scope["accuracy"] >= 0.8, scope["accuracy"]
    assert (tmp_path / "model.net").is_file()


def test_package_model_migrates_an_earlier_checkpoint():
    from training.models import build_model

    torch.manual_seed(2)
    model = build_model("digits-conv", neuron="ternary-learned", width=2)
    receivers = [name for name, m in model.named_modules() if getattr(m, "input_amplitude", None) is not None]
    assert receivers == ["blocks.1", "blocks.3", "blocks.4"]
    with torch.no_grad():
        for name in receivers:
            dict(model.named_modules())[name].input_amplitude.uniform_(0.5, 1.5)
    old = dict(model.state_dict())
    for producer, consumer in (("blocks.0", "blocks.1"), ("blocks.1", "blocks.3"), ("blocks.3", "blocks.4")):
        old[f"{producer}.neuron.amplitude"] = old.pop(f"{consumer}.input_amplitude")
    old["blocks.4.neuron.amplitude"] = torch.tensor([1.3])  # the output layer's: it only scaled the loss
    fresh = build_model("digits-conv", neuron="ternary-learned", width=2)
    fresh.load_state_dict(old)
    x, _ = digits((1, 8, 8), 0, 0, 4)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_run_command_takes_a_loop_export(tutorial, tmp_path, capsys):
    from deploy import run_lava

    _, folder, *_ = tutorial
    args = [str(folder / "loop.net"), "--samples", "2", "-T", "2", "--latency", "5", "--quiet"]
    assert run_lava.main(args + ["--input-shape", "1,8,8", "--json", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "r.json").is_file() and "Lava fixed_pt accuracy" in capsys.readouterr().out
    assert run_lava.main(args) == 0  # without --input-shape: the dataset's sample shape (1, 8, 8)
    assert "Lava fixed_pt accuracy" in capsys.readouterr().out
