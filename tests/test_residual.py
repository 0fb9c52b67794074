"""Residual (graph) networks: the basic block, the ``concat`` layer, Lava and simulator parity, stock netx refusal.

Small nets with random weights, norms and learnt amplitudes (a stem conv, an identity and a projection
block, of ternary and of binary neurons, a dense readout) run 100 samples back to back on Lava ``fixed_pt``;
every layer, both branches of each block included, must equal the torch eval forward spike for spike,
and the fast simulator must equal Lava.
"""
import hashlib

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lava_ternary  # noqa: F401
from lava_ternary import block as tblock
from lava_ternary import parity
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import read_network
from lava_ternary.netx import export_hdf5
from lava_ternary.residual import Residual, StepNorm
from lava_ternary.sim import compile_network, simulate
from training import models

SAMPLES = 12
PARITY_SAMPLES = 100


def _params(mode):
    return dict(threshold=0.5, current_decay=1.0, voltage_decay=0.75, reset="hard",
                spike_mode="binary" if mode == "binary" else "ternary")


def _trained_looking(net):
    """Random norm statistics, norm parameters and amplitudes (the fold must be exact for any of them)."""
    with torch.no_grad():
        for m in net.modules():
            if getattr(m, "input_amplitude", None) is not None:
                m.input_amplitude.uniform_(0.6, 1.6)
            if isinstance(m, StepNorm):
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net.eval()


def tiny(mode, seed, widths=(4, 6), size=6):
    """stem conv -> identity block -> projection block (stride 2) -> flatten -> dense; learnt amplitudes.

    ``mode`` is the spike mode of every neuron group, or a pair: the modes of the identity block and
    of the projection block (the stem and the readout are then ternary).
    """
    torch.manual_seed(seed)
    ident, proj = (mode, mode) if isinstance(mode, str) else mode
    p = _params(mode if isinstance(mode, str) else "ternary")
    amp = {"input_amplitude": "layer"}
    half = (size + 1) // 2
    blocks = [tblock.Conv(dict(p, threshold=8.0), 1, widths[0], 3, padding=1, weight_scale=2,
                          input_shape=(1, size, size)),
              Residual(_params(ident), widths[0], widths[0], 1, amp),
              Residual(_params(proj), widths[0], widths[1], 2, amp),
              tblock.Flatten(), tblock.Dense(p, widths[1] * half * half, 5, weight_scale=2, **amp)]
    return _trained_looking(models.SpikingNet(blocks, {"population": 1}))


def inputs(net, steps, seed, size=6, samples=SAMPLES):
    x = torch.randint(0, 17, (samples, 1, size, size, steps), generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.pad(x.float(), (0, net.latency))


@pytest.mark.parametrize("steps,modes", [(1, ("ternary", "binary")), (4, ("binary", "ternary"))])
def test_residual_network_is_bit_exact_on_lava_and_in_the_simulator(tmp_path, steps, modes):
    # identity and projection blocks of ternary and of binary neurons, T = 1 and 4, 100 samples back to back
    net = tiny(modes, seed=steps)
    path = tmp_path / "res.net"
    spec = export_hdf5(net, path)
    assert [l.type for l in spec] == ["input", "conv", "conv", "concat", "conv", "concat", "flatten", "dense"]
    assert np.array_equal(spec[3].shortcut_weight[:, :, 0, 0] != 0, np.eye(4, dtype=bool))  # identity
    assert spec[5].shortcut_weight.shape[:2] == (6, 4)  # projection
    assert [spec[i].neuron.ternary.binary for i in (3, 5)] == [m == "binary" for m in modes]
    x = inputs(net, steps, seed=steps, samples=PARITY_SAMPLES)
    ref = parity.torch_layer_outputs(net.blocks, x)
    lava = parity.run_lava(path, x.numpy().astype(np.int64))
    cmp = parity.compare(lava, ref, skip=net.latency)
    assert cmp.mismatches == [0] * 6, cmp.mismatches
    assert all(s > 0 for s in cmp.spikes), cmp.spikes  # every layer, both branches, carries spikes
    assert cmp.classes_equal == PARITY_SAMPLES
    sim = simulate(compile_network(path), x.numpy().astype(np.int64), input_message_bits=6)
    assert all(np.array_equal(a, b) for a, b in zip(sim.spikes, lava.layers))


@settings(max_examples=2)
@given(seed=st.integers(0, 10 ** 6), mode=st.sampled_from(["ternary", "binary"]),
       widths=st.sampled_from([(2, 3), (3, 3), (4, 2)]), size=st.sampled_from([4, 5]))
def test_simulator_equals_lava_on_random_graph_networks(tmp_path_factory, seed, mode, widths, size):
    net = tiny(mode, seed, widths, size)
    with torch.no_grad():  # random biases and amplitudes beyond the defaults
        for m in net.modules():
            if isinstance(getattr(m, "input_amplitude", None), torch.Tensor):
                m.input_amplitude.uniform_(0.3, 2.5)
    path = tmp_path_factory.mktemp("graph") / "g.net"
    export_hdf5(net, path)
    x = inputs(net, 2, seed, size)[:6].numpy().astype(np.int64)
    lava = parity.run_lava(path, x)
    sim = simulate(compile_network(path), x, input_message_bits=6)
    assert [int(np.count_nonzero(a != b)) for a, b in zip(sim.spikes, lava.layers)] == [0] * len(lava.layers)


def _as_cuba(path):
    """Rewrite every neuron group as a stock CUBA neuron, so only the layer types can stop stock netx."""
    with h5py.File(path, "r+") as f:
        for name in f["layer"]:
            group = f["layer"][name]
            if "neuron" in group:
                del group["neuron"]
                for key, value in {"iDecay": 4096, "vDecay": 0, "vThMant": 80, "refDelay": 1}.items():
                    group.create_dataset(f"neuron/{key}", data=value)
                group.create_dataset("neuron/type", data="CUBA")


def test_stock_netx_refuses_a_graph_file(tmp_path):
    from lava.lib.dl.netx import hdf5 as stock

    path = tmp_path / "res.net"
    export_hdf5(tiny("ternary", 0), path)
    _as_cuba(path)
    with pytest.raises(NotImplementedError, match="concat"):
        stock.Network(net_config=str(path))


def test_sequential_export_is_byte_identical_to_before_the_graph_extension(tmp_path):
    # sha256 of these exports written by main before the graph extension (commit 2a68ce0)
    before = {"digits-conv": "aa7be9c32afc26c2845ef5596c2bf128d95dc4971bb06528e64402d0ee5683d4",
              "mlp": "ed86b07491874120816b84415d1c353e5072bad66d4ec82b7db388c0993029d4"}
    for name, kw in (("digits-conv", {}), ("mlp", {"width": 8})):
        torch.manual_seed(0)
        net = models.build_model(name, neuron="ternary-learned", **kw)
        for p in net.parameters():
            if p.numel() < 20:
                p.data.uniform_(0.5, 1.5)
        export_hdf5(net, tmp_path / f"{name}.net")
        assert hashlib.sha256((tmp_path / f"{name}.net").read_bytes()).hexdigest() == before[name], name


def test_reader_names_bad_graph_keys(tmp_path):
    path = tmp_path / "res.net"
    export_hdf5(tiny("ternary", 0), path)
    spec = read_network(path)
    assert spec.is_graph and spec[3].inputs == (2, 1) and spec[3].shortcut_delay == 1
    cases = [("3", "inputs", np.array([2, 0]), None, "inputs"),          # shortcut from a neuron-less layer
             ("3", "inputs", np.array([1, 0]), None, "inputs"),          # main input must be the previous layer
             ("3", "shortcutWeight", np.zeros((4, 3, 1, 1)), None, "shortcutWeight"),
             ("5", "shortcutStride", np.array([1, 1]), None, "shortcutStride"),
             ("2", "inputs", np.array([1, 0]), "new", "inputs")]         # graph keys on a conv layer
    for layer, key, value, new, match in cases:
        bad = tmp_path / f"bad_{layer}_{key}.net"
        bad.write_bytes(path.read_bytes())
        with h5py.File(bad, "r+") as f:
            if new is None:
                del f[f"layer/{layer}/{key}"]
            f[f"layer/{layer}"].create_dataset(key, data=value)
        with pytest.raises(NetxFormatError, match=match) as err:
            read_network(bad)
        assert f"layer {layer}" in str(err.value) or f"layer/{layer}" in str(err.value) or layer in str(err.value)


def test_resnets_export_as_graphs():
    for name, blocks in (("resnet20", 9), ("resnet19", 8)):
        net = models.build_model(name, neuron="ternary", width=2)
        assert sum(isinstance(b, Residual) for b in net.blocks) == blocks
        assert net.latency == 1 + 2 * blocks + 1 + (2 if name == "resnet19" else 1)


def test_batch_norm_trains_and_folds_into_the_exported_integers(tmp_path):
    net = tiny("ternary", 3)
    block = net.blocks[2]
    assert block.bn_sc is not None and net.blocks[1].bn_sc is None  # projection vs identity shortcut
    net.train()
    x = inputs(net, 2, seed=3)
    net.readout(net(x)).sum().backward()
    assert block.bn1.weight.grad is not None and block.shortcut.synapse.weight.grad is not None
    net.eval()
    spec = export_hdf5(net, tmp_path / "bn.net")
    w2, t2 = Residual.folded(block.conv2, block.bn2)
    wsc, tsc = Residual.folded(block.shortcut, block.bn_sc)
    assert np.array_equal(spec[5].weight, (w2.detach().numpy()[..., 0] * 64).astype(np.int64))
    assert np.array_equal(spec[5].shortcut_weight, (wsc.detach().numpy()[..., 0] * 64).astype(np.int64))
    assert np.array_equal(spec[5].bias, np.round(Residual._bias(t2, tsc).detach().numpy() * 64).astype(np.int64))
    assert np.any(spec[5].bias != 0)


def test_verify_traces_both_neuron_groups_of_each_block(tmp_path):
    net = tiny("ternary", 4)
    export_hdf5(net, tmp_path / "v.net")
    result = lava_ternary.verify(net, tmp_path / "v.net", inputs(net, 2, seed=4), lava=False, skip=net.latency)
    assert [c.block for c in result.layers][1:5] == ["blocks.1.conv1", "blocks.1.conv2", "blocks.2.conv1",
                                                      "blocks.2.conv2"]
    assert all(c.sim == 0 for c in result.layers) and result.sim_equal == SAMPLES


def test_identity_block_refuses_a_shape_change():
    with pytest.raises(ValueError, match="identity shortcut"):
        Residual(models.neuron_params("ternary"), 4, 8, 1, projection=False)


@pytest.mark.parametrize("mode", ["ternary", "binary"])
def test_a_fresh_identity_block_is_its_shortcut(mode):
    # conv2's norm starts at gamma = 0: the block passes its input spikes unchanged, two steps later
    torch.manual_seed(0)
    block = Residual(models.neuron_params(mode), 4, 4, 1, {"input_amplitude": "layer"})
    low = 0 if mode == "binary" else -1
    x = torch.randint(low, 2, (3, 4, 5, 5, 6), generator=torch.Generator().manual_seed(1)).float()
    for train in (True, False):
        y = block.train(train)(x)
        assert torch.equal(y[..., 2:], x[..., :-2]) and not y[..., :2].any()


def test_step_norm_takes_its_statistics_over_the_steps_that_carry_spikes():
    norm = StepNorm(3)
    x = torch.randint(-1, 2, (4, 3, 5, 5, 2), generator=torch.Generator().manual_seed(0)).float()
    z = torch.randn(4, 3, 5, 5, 2, generator=torch.Generator().manual_seed(1))
    short = norm.scale(z, x)
    padded = norm.scale(torch.nn.functional.pad(z, (3, 20)), torch.nn.functional.pad(x, (3, 20)))
    assert torch.allclose(short, padded)  # silent steps (the latency window) change nothing
    assert torch.allclose(short, 1 / torch.sqrt(z.pow(2).mean(dim=(0, 2, 3, 4)) + norm.eps))


def test_training_computes_with_the_folded_integers_of_its_batch():
    net = tiny("ternary", 5)
    for m in net.modules():
        if isinstance(m, StepNorm):
            m.momentum = 1.0  # the running statistics become this batch's
    x = inputs(net, 2, seed=5)
    trained = parity.torch_layer_outputs(net.train().blocks, x)
    deployed = parity.torch_layer_outputs(net.eval().blocks, x)
    assert all(np.array_equal(a, b) for a, b in zip(trained, deployed))
    assert all(np.count_nonzero(a) for a in deployed)
