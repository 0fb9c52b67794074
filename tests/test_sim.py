"""The batched simulator against the real Lava run (spike for spike, every layer) and its own contracts.

Networks are written straight into netx HDF5 files (``write_net``) so that every edge case (soft
reset, v_init, binary mode, stock CUBA layers with their shifted reset phases, 24-bit wrap and
saturation, odd conv geometry) can be set exactly; one test exports a network built from this
package's blocks. Lava runs cost ~1 s to compile plus ~2 ms per step, so networks are tiny.
"""
from __future__ import annotations

from typing import Any, Dict, List

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import lava_ternary  # noqa: F401  (the Python 3.11 fix before lava)
from lava_ternary import fixed, sim
from lava_ternary.errors import NetxFormatError
from lava_ternary.sim.reference import run_lava

LAVA_SETTINGS = settings(max_examples=2, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _text(group: h5py.Group, key: str, value: str) -> None:
    group.create_dataset(key, data=value, dtype=h5py.string_dtype())


def write_net(path, layers: List[Dict[str, Any]]) -> str:
    """Write a netx file: each dict has ``type``, ``shape`` and optional weight/bias/conv keys and ``neuron``.

    ``neuron`` is a dict with ``kind`` ('TERNARY' default or 'CUBA'), ``i_decay``, ``v_decay``, ``vth``,
    ``reset``, ``mode``, ``v_init``, ``bits`` (messageBits).
    """
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        for index, spec in enumerate(layers):
            group = root.create_group(str(index))
            group.create_dataset("type", (1,), "S10", [spec["type"].encode()])
            group.create_dataset("shape", data=np.asarray(spec["shape"], dtype=np.int64))
            for key in ("weight", "bias"):
                if key in spec:
                    group.create_dataset(key, data=np.asarray(spec[key], dtype=np.float32))
            for key in ("kernelSize", "stride", "padding", "dilation"):
                if key in spec:
                    group.create_dataset(key, data=np.asarray(spec[key], dtype=np.int64))
            if "groups" in spec:
                group.create_dataset("groups", data=np.int64(spec["groups"]))
            if "neuron" in spec:
                n = dict(kind="TERNARY", i_decay=1024, v_decay=512, vth=40, reset="hard", mode="ternary",
                         v_init=0, bits=2)
                n.update(spec["neuron"])
                ng = group.create_group("neuron")
                _text(ng, "type", n["kind"])
                for key, value in (("iDecay", n["i_decay"]), ("vDecay", n["v_decay"]), ("vThMant", n["vth"]),
                                   ("refDelay", 1)):
                    ng.create_dataset(key, data=np.int64(value))
                ng.create_dataset("gradedSpike", data=False)
                if n["kind"] == "TERNARY":
                    _text(ng, "resetMode", n["reset"])
                    _text(ng, "spikeMode", n["mode"])
                    ng.create_dataset("vInit", data=np.asarray(n["v_init"], dtype=np.int64))
                if n["bits"]:
                    ng.create_dataset("messageBits", data=np.int64(n["bits"]))
    return str(path)


def conv(shape, in_ch, rng, kernel=(3, 3), stride=(1, 1), padding=(1, 1), groups=1, scale=128, **extra):
    """A conv layer dict with random even weights."""
    weight = rng.integers(-scale, scale, (shape[0], in_ch // groups) + tuple(kernel)) * 2
    return dict(type="conv", shape=list(shape), weight=weight, kernelSize=list(kernel), stride=list(stride),
                padding=list(padding), dilation=[1, 1], groups=groups, **extra)


def dense(out, n_in, rng, scale=128, **extra):
    """A dense layer dict with random even weights."""
    return dict(type="dense", shape=[out], weight=rng.integers(-scale, scale, (out, n_in)) * 2, **extra)


def assert_same_as_lava(path, x, bits):
    """Simulator and Lava give identical spikes in every layer; return the total spike count."""
    layers = sim.compile_network(path)
    ours = sim.simulate(layers, x, input_message_bits=bits)
    lava = run_lava(path, x, input_message_bits=bits, layers=layers).layers
    assert len(ours.spikes) == len(lava)
    for layer, a, b in zip(ours.layers, ours.spikes, lava):
        assert a.shape == b.shape, f"layer {layer.index}"
        bad = np.argwhere(a != b)
        assert bad.size == 0, f"layer {layer.index}: {len(bad)} mismatches, first at {bad[:3].tolist()}"
    return sum(int(np.count_nonzero(s)) for s in ours.spikes)


@st.composite
def ternary_neurons(draw):
    """Random TERNARY neuron settings (modes, resets, v_init, decays, threshold)."""
    mode = draw(st.sampled_from(["ternary", "binary"]))
    return dict(kind="TERNARY", mode=mode, reset=draw(st.sampled_from(["hard", "soft"])),
                i_decay=draw(st.sampled_from([0, 1024, 4096])), v_decay=draw(st.sampled_from([0, 512, 3000, 4096])),
                vth=draw(st.integers(5, 300)), v_init=draw(st.sampled_from([0, 1500, -2500])),
                bits=draw(st.sampled_from([1, 2, 8])) if mode == "binary" else draw(st.sampled_from([2, 4])))


@st.composite
def networks(draw, front):
    """A small random network (``front``: dense, conv, pool or input-neuron), its input and input message bits."""
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    neuron = lambda: draw(st.one_of(ternary_neurons(), st.just(dict(kind="CUBA", vth=30, bits=0))))  # noqa: E731
    steps, batch = draw(st.integers(2, 5)), draw(st.integers(2, 3))
    if front == "dense":
        layers = [dense(9, 6, rng, neuron=neuron(), bias=rng.integers(-20, 20, 9)), dense(5, 9, rng, neuron=neuron())]
        shape = (6,)
    else:
        layers = [dict(type="input", shape=[2, 5, 5])]
        if front == "input":
            layers[0]["neuron"] = draw(ternary_neurons())
        if front != "pool":
            second = conv((3, 2, 2), 3, rng, kernel=(2, 3), stride=(2, 2), padding=(0, 0), groups=3, neuron=neuron())
        else:
            second = dict(type="pool", shape=[3, 2, 2], weight=np.full((1, 1, 2, 2), 2 * int(rng.integers(-128, 128))),
                          kernelSize=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], neuron=neuron())
        layers += [conv((3, 5, 5), 2, rng, neuron=neuron(), bias=rng.integers(-20, 20, 3)), second,
                   dict(type="flatten", shape=[12, 1, 1]), dense(4, 12, rng, neuron=neuron())]
        shape = (2, 5, 5)
    kind = draw(st.sampled_from(["graded", "ternary", "binary-cast"]))
    if kind == "graded":
        x, bits = rng.integers(-12, 17, (batch,) + shape + (steps,)), 6
    else:
        # bits=0 makes Lava cast the input to bool: a -1 input counts as +1
        x, bits = rng.integers(-1, 2, (batch,) + shape + (steps,)), 2 if kind == "ternary" else 0
    return layers, x, bits


@pytest.mark.parametrize("front", ["dense", "conv", "pool", "input"])
@LAVA_SETTINGS
@given(data=st.data())
def test_random_networks_match_lava_in_every_layer(tmp_path_factory, front, data):
    layers, x, bits = data.draw(networks(front))
    path = write_net(tmp_path_factory.mktemp("net") / "random.net", layers)
    for layer in layers:
        neuron = layer.get("neuron")
        event(f"{layer['type']}:" + ("-" if neuron is None else f"{neuron.get('kind', 'TERNARY')}/"
                                     f"{neuron.get('mode', '')}/{neuron.get('reset', '')}"))
    event(f"input bits {bits}")
    event(f"spikes {'> 0' if assert_same_as_lava(path, x, bits) else '= 0'}")


def test_wrap_clamp_and_saturation_match_lava(tmp_path):
    """Large graded input and weights: the 24-bit conv clamp, u wrap and v saturation all happen, identically."""
    import torch

    rng = np.random.default_rng(7)
    layers = [dict(type="input", shape=[1, 4, 4]),
              conv((2, 4, 4), 1, rng, scale=127, neuron=dict(vth=fixed.MAX_VTH_MANT, mode="binary", i_decay=0,
                                                               v_decay=0, bits=1)),
              dict(type="flatten", shape=[32, 1, 1]),
              dense(3, 32, rng, scale=127, neuron=dict(vth=fixed.MAX_VTH_MANT, i_decay=4096, v_decay=0))]
    layers[1]["weight"][0], layers[1]["weight"][1] = 254, -256  # all-positive and all-negative kernels
    path = write_net(tmp_path / "big.net", layers)
    x = rng.integers(3000, 4001, (2, 1, 4, 4, 6))
    compiled = sim.compile_network(path)
    first = sim.synapse(compiled[0], x)
    raw = torch.nn.functional.conv2d(torch.from_numpy(np.moveaxis(x, -1, 1).reshape(-1, 1, 4, 4).astype(float)),
                                     torch.from_numpy(compiled[0].weight.astype(float)), padding=1)
    assert np.abs(first).max() < 2 ** 23 <= raw.abs().max().item()  # the 24-bit clamp wrapped some sums
    assert_same_as_lava(path, x, 16)
    # the binary layer saturates at the negative rail (never fires there) and wraps u
    u, v = np.zeros(first.shape[:-1], np.int64), np.zeros(first.shape[:-1], np.int64)
    seen_sat, seen_wrap = False, False
    for t in range(first.shape[-1]):
        raw = fixed.decay(u, 0) + (first[..., t] << fixed.ACT_SHIFT)
        u, v, _ = fixed.neuron_step(u, v, first[..., t], i_decay=0, v_decay=0, vth=fixed.MAX_VTH_MANT, binary=True)
        seen_wrap |= bool(np.any(np.abs(raw) > fixed.MAX_STATE))
        seen_sat |= bool(np.any(v == -(fixed.MAX_STATE - 1)))
    assert seen_wrap and seen_sat


def test_stock_cuba_layers_with_shifted_reset_phases_match_lava(tmp_path):
    """netx gives each stock LIFReset layer its own reset offset: windows overlap neighbours, bias drives the edges."""
    rng = np.random.default_rng(3)
    cuba = lambda: dict(kind="CUBA", i_decay=int(rng.integers(0, 4097)), v_decay=int(rng.integers(0, 4097)),  # noqa
                        vth=20, bits=0)
    layers = [dense(12, 10, rng, bias=rng.integers(-30, 30, 12), neuron=cuba()),
              dense(9, 12, rng, bias=rng.integers(-30, 30, 9), neuron=cuba()),
              dense(8, 9, rng, bias=rng.integers(-30, 30, 8), neuron=cuba()),
              dense(7, 8, rng, neuron=dict(vth=10, v_init=-200)),
              dense(5, 7, rng, bias=rng.integers(-30, 30, 5), neuron=cuba())]
    path = write_net(tmp_path / "stock.net", layers)
    timing = sim.default_timing(sim.compile_network(path))
    assert timing.phase == (0, 1, 2, 0, 4) and max(timing.phase) > 2  # windows longer than T=2 apart
    assert assert_same_as_lava(path, rng.integers(0, 2, (4, 10, 2)), 0) > 0


def test_exported_block_network_matches_lava(tmp_path):
    """A network built from lava_ternary.block and exported by lava_ternary.netx runs identically."""
    import torch

    from lava_ternary import block
    from lava_ternary.netx import export_hdf5

    torch.manual_seed(0)
    params = {"threshold": 0.3, "current_decay": 1.0, "voltage_decay": 0.25, "reset": "soft", "v_init": 0.1}
    blocks = [block.Conv(params, 1, 4, 3, padding=1, weight_scale=3, input_shape=(1, 6, 6)),
              block.Flatten(), block.Dense({**params, "spike_mode": "binary", "reset": "hard"}, 144, 6,
                                           weight_scale=3)]
    spec = export_hdf5(blocks, tmp_path / "blocks.net")
    assert spec.is_ternary
    x = np.random.default_rng(0).integers(0, 17, (3, 1, 6, 6, 4))
    assert assert_same_as_lava(spec.path, x, 6) > 0


def _tiny(tmp_path, **neuron):
    return write_net(tmp_path / "tiny.net", [dict(type="dense", shape=[1], weight=[[10]], neuron=neuron)])


def test_hand_computed_sequence(tmp_path):
    """One neuron, weight 10, threshold 8 (512 in state units), no leak on v: the spikes of Eqs. 7/8 by hand."""
    layers = sim.compile_network(_tiny(tmp_path, vth=8, i_decay=4096, v_decay=0))
    x = np.array([[[1, 1, -1, -1, -1, 0]]])  # [batch=1, 1 input, T=6]
    out = sim.simulate(layers, x, input_message_bits=2).output[0, 0]
    # step 0 restarts (sends 0); step k integrates x[k-1]*10*64 = +-640 into v (u = input, no memory):
    # v: 640 -> spike +1, reset 0; 640 -> +1; -640 -> -1; -640 -> -1; -640 -> -1
    assert out.tolist() == [0, 1, 1, -1, -1, -1]
    binary = sim.compile_network(_tiny(tmp_path, vth=8, i_decay=4096, v_decay=0, mode="binary", bits=1))
    assert sim.simulate(binary, x, input_message_bits=2).output[0, 0].tolist() == [0, 1, 1, 0, 0, 0]
    cast = sim.simulate(layers, x, input_message_bits=0).output[0, 0]  # -1 seen as +1
    assert cast.tolist() == [0, 1, 1, 1, 1, 1]


def test_soft_reset_and_v_init_by_hand(tmp_path):
    layers = sim.compile_network(_tiny(tmp_path, vth=8, i_decay=4096, v_decay=0, reset="soft", v_init=300))
    x = np.array([[[1, 0, 0, 0]]])
    # v starts at 300; +640 -> 940 > 512: +1, soft reset to 428; then 428 stays (no input, no leak)
    assert sim.simulate(layers, x, input_message_bits=2).output[0, 0].tolist() == [0, 1, 0, 0]


def test_ternary_samples_are_independent_and_record_last(tmp_path):
    rng = np.random.default_rng(1)
    path = write_net(tmp_path / "n.net", [dense(8, 5, rng, neuron=dict(v_init=900)), dense(3, 8, rng, neuron={})])
    layers = sim.compile_network(path)
    x = rng.integers(-1, 2, (6, 5, 7))
    full = sim.simulate(layers, x, input_message_bits=2)
    alone = [sim.simulate(layers, x[i:i + 1], input_message_bits=2).spikes for i in range(6)]
    for j in range(2):
        assert np.array_equal(full.spikes[j], np.concatenate([a[j] for a in alone]))
    last = sim.simulate(layers, x, input_message_bits=2, record="last")
    assert len(last.spikes) == 1 and np.array_equal(last.output, full.output)
    assert full.spikes[0].dtype == np.int8 and np.count_nonzero(full.spikes[0] < 0) > 0
    empty = sim.simulate(layers, x[:0], input_message_bits=2)
    assert [a.shape for a in empty.spikes] == [(0, 8, 7), (0, 3, 7)]


def test_pool_is_a_depthwise_conv_as_in_lava(tmp_path):
    rng = np.random.default_rng(2)
    front = [dict(type="input", shape=[1, 4, 4]), conv((2, 4, 4), 1, rng, neuron=dict(vth=20))]
    pooled = write_net(tmp_path / "p.net", front + [dict(type="pool", shape=[2, 2, 2], weight=np.full((1, 1, 2, 2), 40),
                                                        kernelSize=[2, 2], stride=[2, 2], padding=[0, 0],
                                                        dilation=[1, 1], neuron=dict(vth=30))])
    explicit = write_net(tmp_path / "c.net", front + [dict(type="conv", shape=[2, 2, 2], weight=np.full((2, 1, 2, 2), 40),
                                                          kernelSize=[2, 2], stride=[2, 2], padding=[0, 0],
                                                          dilation=[1, 1], groups=2, neuron=dict(vth=30))])
    x = rng.integers(0, 17, (3, 1, 4, 4, 5))
    a = sim.simulate(sim.compile_network(pooled), x, input_message_bits=6)
    b = sim.simulate(sim.compile_network(explicit), x, input_message_bits=6)
    assert all(np.array_equal(p, q) for p, q in zip(a.spikes, b.spikes))
    assert np.count_nonzero(a.output) > 0
    assert assert_same_as_lava(pooled, x, 6) > 0


def test_dense_weights_are_what_lava_dense_uses():
    w = np.array([[-28, 28], [4, -8]])
    eff, exp = sim.lava_dense_weights(w)
    s = np.array([[1, -1], [0, 1]])
    assert np.array_equal(np.right_shift(eff @ s, -exp) if exp < 0 else eff @ s << exp, w @ s)
    zero, zexp = sim.lava_dense_weights(np.zeros((2, 3)))
    assert not zero.any() and zexp == 0


def test_bad_inputs_raise(tmp_path):
    rng = np.random.default_rng(0)
    layers = sim.compile_network(write_net(tmp_path / "n.net", [dense(3, 4, rng, neuron={})]))
    with pytest.raises(ValueError, match="sample shape"):
        sim.simulate(layers, np.zeros((2, 5, 3), int))
    with pytest.raises(ValueError, match="integers"):
        sim.simulate(layers, np.full((2, 4, 3), 0.5))
    with pytest.raises(ValueError, match="record"):
        sim.simulate(layers, np.zeros((2, 4, 3), int), record="some")
    headless = write_net(tmp_path / "headless.net", [dict(type="input", shape=[1, 4, 4]),
                                                     conv((2, 4, 4), 1, rng)])
    with pytest.raises(NetxFormatError, match="layer 1.*neuron.*convolution"):
        sim.compile_network(headless)


def _step_reference(a: np.ndarray, n: Dict[str, Any], bias: np.ndarray, v_init: np.ndarray) -> np.ndarray:
    """The documented TERNARY loop with :func:`lava_ternary.fixed.neuron_step` on int64 arrays: window step 0
    restarts (``u = 0, v = v_init``, sends 0); step ``t`` integrates the synaptic input sent at ``t - 1``."""
    u, v = np.zeros(a.shape[:-1], np.int64), np.broadcast_to(v_init, a.shape[:-1]).astype(np.int64)
    out = np.zeros(a.shape, np.int8)
    for t in range(1, a.shape[-1]):
        u, v, out[..., t] = fixed.neuron_step(u, v, a[..., t - 1], i_decay=n["i_decay"], v_decay=n["v_decay"],
                                              vth=n["vth"], bias=bias << 6, soft_reset=n["reset"] == "soft",
                                              binary=n["mode"] == "binary")
    return out


@pytest.mark.parametrize("layout", ["uniform", "per-channel", "per-neuron"])
@pytest.mark.parametrize("decays", [(4096, 3072), (0, 0), (1000, 3000)])
@pytest.mark.parametrize("mode,reset", [("ternary", "hard"), ("binary", "soft")])
def test_compiled_loop_is_the_numpy_step(tmp_path, layout, decays, mode, reset):
    """The numba loop (constant or runtime decays; one parameter per layer, channel or neuron) gives the spikes
    of the same fixed.neuron_step run on numpy arrays, and the next layer receives them."""
    rng = np.random.default_rng(5)
    n = dict(i_decay=decays[0], v_decay=decays[1], vth=25, mode=mode, reset=reset, bits=2,
             v_init=rng.integers(-900, 900, 4) if layout == "per-channel" else 300)
    bias = {"uniform": None, "per-channel": rng.integers(-9, 9, 4), "per-neuron": rng.integers(-9, 9, (4, 3, 3))}
    first = conv((4, 3, 3), 2, rng, neuron=n)
    if bias[layout] is not None:
        first["bias"] = bias[layout]
    path = write_net(tmp_path / "n.net", [dict(type="input", shape=[2, 3, 3]), first,
                                          dict(type="flatten", shape=[36, 1, 1]), dense(5, 36, rng, neuron={})])
    layers = sim.compile_network(path)
    assert layers[0].neuron.vth.size == {"uniform": 1, "per-channel": 4, "per-neuron": 36}[layout]
    x = rng.integers(-16, 17, (7, 2, 3, 3, 6))
    got = sim.simulate(layers, x, input_message_bits=6)
    expected = _step_reference(sim.synapse(layers[0], x), n,
                               np.zeros((4, 1, 1), np.int64) if bias[layout] is None else
                               np.asarray(bias[layout]).reshape((4, 1, 1) if layout == "per-channel" else (4, 3, 3)),
                               np.asarray(n["v_init"]).reshape(-1, 1, 1))
    assert np.array_equal(got.spikes[0], expected) and np.count_nonzero(expected) > 0
    second = _step_reference(sim.synapse(layers[2], expected.reshape(7, 36, 6)),
                             dict(i_decay=1024, v_decay=512, vth=40, mode="ternary", reset="hard"),
                             np.zeros(5, np.int64), np.zeros(5, np.int64))
    assert np.array_equal(got.spikes[1], second)


def test_threads_and_repeated_frames_do_not_change_spikes(tmp_path, monkeypatch):
    """Batch slices on threads, and direct-encoded input (one image repeated) multiplied once, give the
    spikes of one sample at a time."""
    rng = np.random.default_rng(9)
    path = write_net(tmp_path / "n.net", [dict(type="input", shape=[1, 4, 4]), conv((3, 4, 4), 1, rng, neuron={}),
                                          dict(type="flatten", shape=[48, 1, 1]), dense(6, 48, rng, neuron={})])
    layers = sim.compile_network(path)
    image = rng.integers(0, 17, (9, 1, 4, 4, 1))
    x = np.concatenate([np.repeat(image, 4, axis=-1), np.zeros_like(image)], axis=-1)  # 4 equal steps, then 0
    alone = [sim.simulate(layers, x[i:i + 1], input_message_bits=6).spikes for i in range(9)]
    monkeypatch.setattr(sim.runner, "PARALLEL_STEPS", 1)  # every batch of 2+ samples is split across the CPUs
    full = sim.simulate(layers, x, input_message_bits=6)
    for j in range(2):
        assert np.array_equal(full.spikes[j], np.concatenate([a[j] for a in alone]))
    assert np.count_nonzero(full.spikes[1]) > 0


@pytest.mark.parametrize("side", [4, 12])  # unrolled matrix product; torch conv2d
def test_float32_products_are_exact_up_to_their_bound(tmp_path, side):
    """Sums just below 2**24 take the float32 path; just above, float64: both equal int64 arithmetic."""
    from numpy.lib.stride_tricks import sliding_window_view

    rng = np.random.default_rng(4)
    layer = conv((2, side, side), 8, rng, scale=127, neuron=dict(vth=fixed.MAX_VTH_MANT, i_decay=4096, v_decay=4096))
    layer["weight"][0] = 254  # one all-positive kernel: its sum reaches the bound
    path = write_net(tmp_path / "big.net", [dict(type="input", shape=[8, side, side]), layer])
    compiled = sim.compile_network(path)[0]
    assert (compiled.matrix is None) == (side == 12)
    for peak in (int((2 ** 24 - 1) // compiled.weight_bound), int(2 ** 24 // compiled.weight_bound) + 1):
        x = rng.integers(-peak, peak + 1, (2, 8, side, side, 3))
        x[0, ..., 0] = peak  # the full sum of the positive kernel appears
        padded = np.pad(np.moveaxis(x, -1, 1), ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
        exact = np.einsum("btcyxij,ocij->btoyx", sliding_window_view(padded, (3, 3), axis=(3, 4)), compiled.weight)
        wrapped = (exact + 2 ** 23) % 2 ** 24 - 2 ** 23  # Lava's 24-bit conv accumulator
        assert np.abs(exact).max() >= 2 ** 23  # the wrap matters
        assert np.array_equal(sim.synapse(compiled, x), np.moveaxis(wrapped, 1, -1))


def test_input_neuron_takes_the_input_unchanged_whatever_the_message_bits(tmp_path):
    """Lava connects the source to an input neuron's a_in: no bool cast at input_message_bits=0 (only synapses cast)."""
    rng = np.random.default_rng(5)
    path = write_net(tmp_path / "in.net", [dict(type="input", shape=[6], neuron=dict(vth=3, i_decay=4096, v_decay=0)),
                                           dense(4, 6, rng, neuron=dict(vth=30))])
    x = rng.integers(-40, 41, (3, 6, 4))
    assert assert_same_as_lava(path, x, 0) > 0
    cast = sim.simulate(sim.compile_network(path), np.full((1, 6, 8), -1), input_message_bits=0).spikes[0]
    assert np.all(cast <= 0) and np.any(cast < 0), "a -1 input reaches the input neuron as -1"


def test_input_bias_drives_the_input_neuron_as_lava_dl_tests_do(tmp_path):
    """``input_bias`` is the input neuron's bias_mant (x64): the documented numpy step by hand, per neuron."""
    path = write_net(tmp_path / "bias.net", [dict(type="input", shape=[2, 1, 2],
                                                  neuron=dict(vth=100, i_decay=4096, v_decay=0))])
    layers = sim.compile_network(path)
    bias = np.array([[[30, -70]], [[0, 130]]])
    out = sim.simulate(layers, np.zeros((1, 2, 1, 2, 6), np.int64), input_bias=bias, input_message_bits=8).output
    u = v = np.zeros(4, np.int64)
    expect = np.zeros((4, 6), np.int64)
    for t in range(1, 6):  # step 0 is the TERNARY restart step
        u, v, expect[:, t] = fixed.neuron_step(u, v, 0, i_decay=4096, v_decay=0, vth=100, bias=bias.reshape(-1) << 6)
    assert np.array_equal(out.reshape(4, 6), expect) and expect.any() and (expect < 0).any()
    for bad, match in ((np.ones(3), "neither one per channel"), (np.full(4, 5000), "13-bit"), (np.ones(4) / 2, "integer")):
        with pytest.raises(ValueError, match=match):
            sim.simulate(layers, np.zeros((1, 2, 1, 2, 2)), input_bias=bad)
    dense_only = write_net(tmp_path / "dense.net", [dense(2, 3, np.random.default_rng(0), neuron={})])
    with pytest.raises(ValueError, match="no input neuron group"):
        sim.simulate(sim.compile_network(dense_only), np.zeros((1, 3, 2)), input_bias=np.ones(2))
