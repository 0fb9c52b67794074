"""Acceptance: trained ternary/binary networks run on Lava fixed_pt spike for spike as the PyTorch eval forward.

Quickly trained (a few Adam steps on sklearn digits, integer pixels 0..16 as direct input, learned
amplitudes, hard reset), exported with lava_ternary.netx.export_hdf5, then 100 test samples run back
to back on Loihi2SimCfg(select_tag='fixed_pt') with reset_interval = T + latency. Every layer's
spikes must equal torch's sign(output) index for index (the documented latency shift is zero: the
torch forward carries the same one-step-per-block delay) and so must the predicted classes.
"""
import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401
from lava_ternary import block as tblock
from lava_ternary import parity
from lava_ternary.netx import export_hdf5

SAMPLES = 100


class Net(torch.nn.Module):
    """The lava-dl tutorial convention: a ``blocks`` ModuleList run in order."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        self.latency = sum(int(getattr(b, "delay_shift", False)) for b in self.blocks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def neuron(mode):
    return dict(threshold=1.0, current_decay=0.5, voltage_decay=0.25, reset="hard",
                spike_mode="binary" if mode == "binary" else "ternary")


def build(kind, mode):
    p = neuron(mode)
    amp = {"input_amplitude": "layer"} if mode != "binary" else {}
    if kind == "dense":
        net = Net([tblock.Dense(p, 64, 32, weight_scale=2), tblock.Dense(p, 32, 10, weight_scale=2, **amp)])
    else:
        net = Net([tblock.Conv(p, 1, 3, 3, padding=1, weight_scale=2, input_shape=(1, 8, 8)),
                   tblock.Conv(p, 3, 4, 3, stride=2, padding=1, weight_scale=2, **amp),
                   tblock.Flatten(), tblock.Dense(p, 4 * 16, 10, weight_scale=2, **amp)])
    with torch.no_grad():
        for b in net.blocks:
            if getattr(b, "input_amplitude", None) is not None:
                b.input_amplitude.fill_(0.8)
    return net


def encode(images, kind, steps, latency):
    """Integer pixels repeated over ``steps``, then ``latency`` zero steps (the net answers that late)."""
    x = images.reshape(len(images), 64, 1) if kind == "dense" else images.reshape(len(images), 1, 8, 8, 1)
    x = x.repeat(*([1] * (x.dim() - 1)), steps)
    return torch.nn.functional.pad(x, (0, latency))


def trained(kind, mode, steps, seed=0):
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)
    labels = torch.tensor(digits.target)
    net = build(kind, mode)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(15):
        idx = torch.randint(0, 1400, (32,))
        out = net(encode(images[idx], kind, steps, net.latency))
        loss = torch.nn.functional.cross_entropy(out[..., net.latency:].sum(-1), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    test = torch.arange(1500, 1500 + SAMPLES)
    return net, encode(images[test], kind, steps, net.latency), labels[test].numpy()


def check_parity(tmp_path, kind, mode, steps):
    net, x, _ = trained(kind, mode, steps)
    path = tmp_path / f"{kind}-{mode}-{steps}.net"
    export_hdf5(net, path)
    reference = parity.torch_layer_outputs(net.blocks, x)
    with torch.no_grad():
        np.testing.assert_array_equal(np.sign(net(x).numpy()), reference[-1])
    run = parity.run_lava(path, x.numpy())
    result = parity.compare(run, reference, skip=net.latency)
    return net, reference, run, result


@pytest.mark.parametrize("kind,steps", [("dense", 4), ("dense", 1), ("conv", 4), ("conv", 1)])
def test_trained_ternary_network_is_bit_exact_on_lava(tmp_path, kind, steps):
    net, reference, run, result = check_parity(tmp_path, kind, "ternary-learned", steps)
    amplitudes = [b.input_amplitude.item() for b in net.blocks if getattr(b, "input_amplitude", None) is not None]
    assert all(abs(a - 0.8) > 1e-3 for a in amplitudes)  # amplitudes were learned
    assert all(np.any(r > 0) and np.any(r < 0) for r in reference[:-1])  # real ternary traffic
    assert result.samples == SAMPLES and run.steps == SAMPLES * (steps + net.latency)
    assert result.mismatches == [0] * len(reference), (result.mismatches, result.spikes)
    assert result.classes_equal == SAMPLES


@pytest.mark.parametrize("kind,steps", [("dense", 4), ("conv", 1)])
def test_trained_binary_network_is_bit_exact_on_lava(tmp_path, kind, steps):
    _, reference, _, result = check_parity(tmp_path, kind, "binary", steps)
    assert all(np.any(r > 0) and not np.any(r < 0) for r in reference[:-1])
    assert result.mismatches == [0] * len(reference), (result.mismatches, result.spikes)
    assert result.classes_equal == SAMPLES


def test_floating_point_model_within_stated_tolerance(tmp_path):
    """floating_pt TERNARY neurons (fixed_pt synapses): <= 1 % of spike slots and <= 5 % of classes differ."""
    net, x, _ = trained("dense", "ternary-learned", 4)
    path = tmp_path / "float.net"
    export_hdf5(net, path)
    reference = parity.torch_layer_outputs(net.blocks, x)
    result = parity.compare(parity.run_lava(path, x.numpy(), neuron_tag="floating_pt"), reference, skip=net.latency)
    slots = sum(r.size for r in reference)
    assert sum(result.spikes) > 1000
    assert result.total_mismatches <= 0.01 * slots
    assert result.classes_equal >= 0.95 * SAMPLES


def test_phases_must_name_every_lava_layer(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "dense.net"
    export_hdf5(build("dense", "ternary"), path)
    x = np.zeros((2, 64, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="phases: expected 2 values"):
        parity.run_lava(path, x, phases=[0])
    with pytest.raises(ValueError, match="phases: expected 2 values"):
        parity.run_lava(path, x, phases=[0, -1])
