"""The Recurrent block: integer dynamics with one-step feedback, gradients, dense_rec export, and Lava parity.

The Lava checks are the event-data example of the recurrence issue: a Dense -> Recurrent -> Dense network
trained a few steps on random signed events, exported, and run back to back on Loihi2SimCfg fixed_pt (20
samples, T in {1, 4} input steps plus 5 zero steps): every layer's spikes equal torch's.
A recurrent first layer fed binary events with ``input_message_bits=0`` checks lava-dl issue #372
(the recurrent synapse must carry the layer's own signed spikes, whatever its input carries).
"""
import h5py
import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401
from lava_ternary import block as tblock
from lava_ternary import cli, fixed, parity, sim
from lava_ternary.fold import folded_weight
from lava_ternary.netfile import read_network
from lava_ternary.netx import Network, export_hdf5

SAMPLES = 20
CLASSES = 5
PARAMS = dict(threshold=0.5, current_decay=0.5, voltage_decay=0.25)


class Net(torch.nn.Module):
    """The lava-dl tutorial convention: a ``blocks`` ModuleList run in order."""

    def __init__(self, blocks, latency=None):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        self.latency = len(self.blocks) if latency is None else latency

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def integer_reference(blk: tblock.Recurrent, x: np.ndarray) -> np.ndarray:
    """The block's spikes from :func:`lava_ternary.fixed.neuron_step` with integer weights (after the step delay)."""
    weight = np.round(folded_weight(blk).detach().numpy() * 64).astype(np.int64).reshape(blk.neuron.shape[0], -1)
    weight_rec = np.round(blk.recurrent_weight().detach().numpy() * 64).astype(np.int64)
    bias = 0 if blk.bias is None else np.round(blk.quantized_bias().detach().numpy() * 64).astype(np.int64) << 6
    n = blk.neuron
    u = np.zeros(x.shape[:1] + (weight.shape[0],), np.int64)
    v = np.broadcast_to(n.v_init_mant, u.shape).copy()
    s = np.zeros_like(u)
    out = np.zeros(u.shape + (x.shape[-1],), np.int64)
    for t in range(x.shape[-1]):
        u, v, s = fixed.neuron_step(u, v, x[..., t] @ weight.T + s @ weight_rec.T, i_decay=n.cx_current_decay,
                                    v_decay=n.cx_voltage_decay, vth=n.v_th_mant, bias=bias,
                                    soft_reset=n.reset == "soft", binary=n.spike_mode == "binary")
        out[..., t] = s
    return np.concatenate([np.zeros(out.shape[:-1] + (1,), np.int64), out[..., :-1]], axis=-1)


@pytest.mark.parametrize("reset,mode", [("hard", "ternary"), ("soft", "ternary"), ("hard", "binary")])
def test_forward_is_the_integer_recurrence(reset, mode):
    torch.manual_seed(0)
    blk = tblock.Recurrent(dict(PARAMS, reset=reset, spike_mode=mode, v_init=0.125), 12, 8, weight_scale=3,
                           bias=True, input_amplitude="layer")
    with torch.no_grad():
        blk.bias.uniform_(-0.2, 0.2)
        blk.input_amplitude.fill_(0.7)
    x = torch.randint(-1, 2, (6, 12, 15)).float()
    y = blk(x).detach().numpy()
    expected = integer_reference(blk, x.numpy().astype(np.int64))
    np.testing.assert_array_equal(y, expected)
    assert np.count_nonzero(expected) > 50 and (mode == "binary") == (not np.any(expected < 0))


def test_feedback_arrives_one_step_late():
    """One neuron excited once at step 0 and fed back to itself with weight 1: it fires again every step after."""
    blk = tblock.Recurrent(dict(threshold=0.5, current_decay=1.0, voltage_decay=1.0), 1, 1, delay_shift=False)
    with torch.no_grad():
        blk.input_synapse.weight.fill_(1.0)
        blk.recurrent_synapse.weight.fill_(1.0)
    x = torch.zeros(1, 1, 5)
    x[..., 0] = 1
    np.testing.assert_array_equal(blk(x).detach().numpy().ravel(), [1, 1, 1, 1, 1])
    with torch.no_grad():
        blk.recurrent_synapse.weight.fill_(-1.0)  # inhibitory self-loop: +1, then -1, +1, ... (ternary)
    np.testing.assert_array_equal(blk(x).detach().numpy().ravel(), [1, -1, 1, -1, 1])


def test_without_feedback_it_is_the_dense_block_with_its_gradients():
    """R = 0: the step-by-step recurrence computes Dense's spikes and, through the states, Dense's gradients."""
    torch.manual_seed(1)
    params = dict(PARAMS, requires_grad=True)
    rec = tblock.Recurrent(params, 12, 8, weight_scale=3, bias=True, input_amplitude="layer")
    dense = tblock.Dense(params, 12, 8, weight_scale=3, bias=True, input_amplitude="layer")
    with torch.no_grad():
        dense.synapse.weight.copy_(rec.input_synapse.weight)
        rec.recurrent_synapse.weight.zero_()
        rec.bias.fill_(0.05)
        dense.bias.fill_(0.05)
    x = torch.randint(-1, 2, (5, 12, 20)).float()
    grad = torch.randn(5, 8, 20)
    y_rec, y_dense = rec(x), dense(x)
    assert torch.equal(y_rec, y_dense) and y_dense.abs().sum() > 100
    (y_rec * grad).sum().backward()
    (y_dense * grad).sum().backward()
    pairs = [(rec.input_synapse.weight, dense.synapse.weight), (rec.bias, dense.bias),
             (rec.input_amplitude, dense.input_amplitude), (rec.neuron.current_decay, dense.neuron.current_decay)]
    for ours, theirs in pairs:
        assert theirs.grad.abs().max() > 0
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-4)


def test_conventions_and_refusals():
    params = dict(PARAMS)
    blk = tblock.Recurrent(params, 6, 4, requires_grad=False, weight_scale=4)
    assert params == PARAMS  # slayer's base writes persistent_state into the dict; ours copies it
    assert not blk.neuron.persistent_state
    keys = set(blk.state_dict())
    assert {"input_synapse.weight", "recurrent_synapse.weight"} <= keys and "spike_state" not in keys
    assert blk.synapse is blk.input_synapse and not blk.recurrent_synapse.weight.requires_grad
    assert blk.input_synapse.weight.requires_grad
    x = torch.ones(2, 6, 5)
    first = blk(x).detach()
    blk(-x)
    assert first.abs().sum() > 0 and torch.equal(blk(x).detach(), first)  # no state carried between calls
    with pytest.raises(ValueError, match="delay=True is not supported"):
        tblock.Recurrent(PARAMS, 6, 4, delay=True)
    with pytest.raises(ValueError, match="norm is not supported"):
        tblock.Recurrent(dict(PARAMS, norm=torch.nn.Identity), 6, 4)
    with pytest.raises(ValueError, match="put a Flatten before it"):
        blk(torch.ones(2, 6, 1, 1, 3))


def test_dense_rec_export_has_dense_keys_and_the_recurrent_weights(tmp_path, capsys):
    torch.manual_seed(2)
    dense = tblock.Dense(PARAMS, 6, 4, bias=True)
    rec = tblock.Recurrent(PARAMS, 4, 3, bias=True, input_amplitude="layer", weight_scale=2)
    path = tmp_path / "rec.net"
    export_hdf5(Net([dense, rec]), path)
    with h5py.File(path, "r") as f:
        assert f["layer/1/type"][0] == b"dense_rec"
        dense_keys = set(f["layer/0"].keys())
        assert set(f["layer/1"].keys()) == dense_keys | {"weight_rec"}
        assert set(f["layer/1/neuron"].keys()) == set(f["layer/0/neuron"].keys())
        assert f["layer/1/neuron/type"][()] == b"TERNARY"
        np.testing.assert_array_equal(f["layer/1/weight_rec"][()], rec.recurrent_weight().detach().numpy() * 64)
    spec = read_network(path)
    assert spec.layers[1].type == "dense_rec" and spec.layers[1].weight_rec.shape == (3, 3)
    assert np.any(spec.layers[1].weight_rec)
    assert cli.main(["info", str(path)]) == 0
    assert "2 layers, 7 neurons, 45 stored weights" in capsys.readouterr().out  # 6*4 + 4*3 + 3*3


def events(samples: int, steps: int, channels: int, seed: int, signed: bool = True) -> torch.Tensor:
    """Sparse random events (ON/OFF polarity when ``signed``), ``(N, C, steps)``."""
    gen = torch.Generator().manual_seed(seed)
    on = (torch.rand(samples, channels, steps, generator=gen) < 0.25).float()
    if not signed:
        return on
    return on * torch.where(torch.rand(samples, channels, steps, generator=gen) < 0.5, -1.0, 1.0)


def trained_event_net(steps: int) -> Net:
    """Dense -> Recurrent -> Dense, a few Adam steps on random signed events with random labels.

    Two zero steps more than the depth: the recurrent layer's echo reaches the readout even for T = 1.
    """
    torch.manual_seed(steps)
    net = Net([tblock.Dense(PARAMS, 32, 24, weight_scale=2),
               tblock.Recurrent(PARAMS, 24, 16, weight_scale=2, input_amplitude="layer"),
               tblock.Dense(PARAMS, 16, CLASSES, weight_scale=2, input_amplitude="layer")], latency=5)
    before = net.blocks[1].recurrent_weight().detach().clone()
    x = torch.nn.functional.pad(events(64, steps, 32, seed=10 + steps), (0, net.latency))
    labels = torch.randint(0, CLASSES, (64,))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for i in range(6):
        batch = slice(16 * (i % 4), 16 * (i % 4) + 16)
        loss = torch.nn.functional.cross_entropy(net(x[batch]).sum(-1), labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.equal(before, net.blocks[1].recurrent_weight())  # the recurrent weights were trained
    return net.eval()


@pytest.mark.parametrize("steps", [1, 4])
def test_event_network_runs_on_lava_spike_for_spike(tmp_path, steps):
    net = trained_event_net(steps)
    path = tmp_path / f"events-{steps}.net"
    export_hdf5(net, path)
    x = torch.nn.functional.pad(events(SAMPLES, steps, 32, seed=99), (0, net.latency))
    reference = parity.torch_layer_outputs(net.blocks, x)
    assert np.any(reference[1] > 0) and np.any(reference[1] < 0)  # the recurrent layer sends both signs
    run = parity.run_lava(path, x.numpy())
    result = parity.compare(run, reference, skip=net.latency)
    assert run.layer_index == [0, 1, 2] and run.steps == SAMPLES * (steps + net.latency)
    assert result.mismatches == [0, 0, 0], (result.mismatches, result.spikes)
    assert result.classes_equal == SAMPLES
    print(f"T={steps}: spikes per layer {result.spikes}, negative {[int((r < 0).sum()) for r in reference]}")
    assert simulator_mismatches(path, x, run, parity.default_message_bits(x.numpy())) == [0, 0, 0]


def test_recurrent_first_layer_on_binary_input_keeps_signed_feedback(tmp_path):
    """lava-dl #372: with 0 input message bits the recurrent synapse still gets the layer's 2 bits (not 0)."""
    torch.manual_seed(0)
    net = Net([tblock.Recurrent(PARAMS, 16, 12, weight_scale=3),
               tblock.Dense(PARAMS, 12, CLASSES, weight_scale=3, input_amplitude="layer")])
    path = tmp_path / "first.net"
    export_hdf5(net, path)
    assert [blk.synapse_rec.num_message_bits.init for blk in Network(path).layers[:1]] == [2]
    x = torch.nn.functional.pad(events(SAMPLES, 4, 16, seed=3, signed=False), (0, net.latency))
    reference = parity.torch_layer_outputs(net.blocks, x)
    assert np.count_nonzero(reference[0] < 0) > 20
    run = parity.run_lava(path, x.numpy(), input_message_bits=0)
    result = parity.compare(run, reference)
    assert result.mismatches == [0, 0], (result.mismatches, result.spikes)
    assert simulator_mismatches(path, x, run, 0) == [0, 0]


def simulator_mismatches(path, x, run, bits):
    """Spikes of the fast simulator (a TERNARY dense_rec runs step by step there) that differ from the Lava run."""
    ours = sim.simulate(sim.compile_network(path), x.numpy().astype(np.int64), input_message_bits=bits)
    return [int(np.count_nonzero(a.reshape(b.shape) != b)) for a, b in zip(ours.spikes, run.layers)]
