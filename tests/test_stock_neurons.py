"""The stock netx layer kinds of :mod:`lava_ternary.sim.stock` against the real Lava run of stock netx.

Each test writes a tiny netx file, builds it with lava-dl's own ``lava.lib.dl.netx.hdf5.Network`` (no
package code on the Lava side), runs it on ``Loihi2SimCfg(select_tag='fixed_pt')`` step by step on random
integer input, records every layer's messages and the neurons' states, and requires 0 mismatches against
the functions composed per netx's rules (synapse latency, delays, message bits, reset phases).
Lava costs ~1 s to compile plus a few ms per step, so the networks have a handful of neurons and <= 30 steps.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import h5py
import numpy as np
import pytest

import lava_ternary  # noqa: F401  (the Python 3.11 fix before lava)
from lava_ternary import sim
from lava_ternary.netfile import read_network
from lava_ternary.sim import stock
from fuzzing import layer_group

STEPS = 30


def _write(path, layers: Sequence[dict]) -> str:
    """A netx file: each dict has ``type``, ``shape``, optional ``neuron`` (dict) and datasets."""
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        for index, spec in enumerate(layers):
            spec = dict(spec)
            layer_group(root, index, spec.pop("type"), spec.pop("shape"), spec.pop("neuron", None), **spec)
    return str(path)


def _lava(path: str, stream: np.ndarray, *, into_neuron: bool = False, input_message_bits: int = 0,
          reset_interval: Optional[int] = None, sparse: bool = False,
          states: Dict[int, Tuple[str, ...]] = {}) -> Tuple[List[np.ndarray], Dict[Tuple[int, str], np.ndarray]]:
    """Run ``stream`` (``[N_in, T]``) through stock netx; every layer's messages ``[T, N]`` and states ``[T, N]``."""
    from lava.lib.dl.netx.hdf5 import Network
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    steps = stream.shape[-1]
    net = Network(path, input_message_bits=input_message_bits, reset_interval=reset_interval,
                  sparse_fc_layer=sparse)
    source = Source(data=stream.astype(np.int32))
    source.s_out.connect(net.layers[0].neuron.a_in if into_neuron else net.inp)
    sinks = []
    for layer in net.layers:
        sinks.append(Sink(shape=layer.out.shape, buffer=steps))
        layer.out.connect(sinks[-1].a_in)
    recorded = {(i, name): [] for i, names in states.items() for name in names}
    try:
        for _ in range(steps):
            net.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for (i, name), trace in recorded.items():
                trace.append(np.asarray(getattr(net.layers[i].neuron, name).get()).reshape(-1))
        out = [np.asarray(sink.data.get()).reshape(-1, steps).T.astype(np.int64) for sink in sinks]
    finally:
        net.stop()
    return out, {key: np.asarray(trace, np.int64) for key, trace in recorded.items()}


def _batch(x: np.ndarray) -> np.ndarray:
    """``[T, N]`` as a batch of one, ``[T, 1, N]``."""
    return np.asarray(x, np.int64)[:, None, :]


def _same(name: str, ours: np.ndarray, lava: np.ndarray) -> None:
    ours = np.asarray(ours).reshape(lava.shape)
    bad = int(np.count_nonzero(ours != lava))
    assert bad == 0, f"{name}: {bad} of {lava.size} values differ\nours\n{ours.T}\nlava\n{lava.T}"


def _weights(rng: np.random.Generator, out: int, inp: int, lo: int = -128, hi: int = 128) -> np.ndarray:
    return (2 * rng.integers(lo // 2, hi // 2, size=(out, inp))).astype(np.float32)


def test_neuronless_dense_integrates_until_the_24_bit_limits(tmp_path):
    """mnist.net's readout: a dense layer without a neuron group is netx's non-spiking integrator (LIFReset
    with reset_interval): u sums a << 6 with the 24-bit wrap, v = sat24(u + bias << 6), nothing is sent."""
    rng = np.random.default_rng(0)
    w = _weights(rng, 3, 4, -256, 255)
    w[0] = 254  # neuron 0 integrates a positive input: u wraps around 2**23 every few steps
    bias = np.array([5, -7, 0], np.float32)
    path = _write(tmp_path / "integrator.net", [
        dict(type="input", shape=np.array([4])),
        dict(type="dense", shape=np.array([3]), weight=w, bias=bias)])
    x = rng.integers(0, 128, size=(STEPS, 4))
    out, states = _lava(path, x.T, input_message_bits=8, reset_interval=20, states={0: ("u", "v")})
    (weights,), exp, _ = stock.lava_weights(w)
    a = stock.dense_synapse(_batch(x), weights, exp, message_bits=8)
    trace = stock.run_integrator(a, bias=bias.astype(np.int64), reset_interval=20,
                                 reset_offset=stock.reset_offset(0))
    _same("u", trace["u"], states[0, "u"])
    _same("v", trace["v"], states[0, "v"])
    _same("s", trace.s, out[0])
    assert not out[0].any() and np.diff(states[0, "u"][:, 0]).min() < -2 ** 23  # wrapped, and still silent


def test_sdnn_delta_sigma_delta_and_sigma(tmp_path):
    """pilotnet_sdnn's kinds: Delta input (fed through its a_in), SigmaDelta with bias and threshold, Sigma output;
    16-bit graded messages between them."""
    rng = np.random.default_rng(1)
    sdnn = lambda vth, **extra: dict(type="SDNN", activation="relu", vThMant=vth, **extra)  # noqa: E731
    w1, w2 = _weights(rng, 4, 5, -64, 64), _weights(rng, 3, 4, -64, 64)
    bias = np.array([3, -2, 0, 9], np.float32)
    path = _write(tmp_path / "sdnn.net", [
        dict(type="input", shape=np.array([5]), neuron=sdnn(1)),
        dict(type="dense", shape=np.array([4]), weight=w1, bias=bias, neuron=sdnn(2)),
        dict(type="dense", shape=np.array([3]), weight=w2, neuron=sdnn(6, sigma_output=True))])
    x = np.cumsum(rng.integers(-40, 41, size=(STEPS, 5)), axis=0)  # a slowly varying signal, as SDNN inputs are
    out, states = _lava(path, x.T, into_neuron=True, states={1: ("sigma", "act", "residue")})
    params = [sdnn(1), sdnn(2), sdnn(6, sigma_output=True)]
    t0 = stock.run_sdnn(params[0], _batch(x), input_layer=True)
    _same("delta input", t0.s, out[0])
    (k1,), e1, _ = stock.lava_weights(w1)
    t1 = stock.run_sdnn(params[1], stock.dense_synapse(t0.s, k1, e1, message_bits=stock.message_bits(params[0])),
                        bias=bias.astype(np.int64))
    for name in ("sigma", "act", "residue"):
        _same(name, t1[name], states[1, name])
    _same("sigma-delta", t1.s, out[1])
    (k2,), e2, _ = stock.lava_weights(w2)
    t2 = stock.run_sdnn(params[2], stock.dense_synapse(t1.s, k2, e2, message_bits=stock.message_bits(params[1])))
    _same("sigma output", t2.s, out[2])
    assert np.count_nonzero(out[1]) > 10 and np.count_nonzero(out[1]) < out[1].size  # the threshold bites


def test_rf_phase_and_izhikevich_on_complex_dense(tmp_path):
    """lava-dl's RF exports: a dense layer with weight/real and weight/imag drives an RF (RF_PHASE) or RF_IZ
    neuron through two synapses; decays come back through netx's float round trip (a negative cosDecay too)."""
    rng = np.random.default_rng(2)
    rf = lambda kind, s, c, vth: dict(type=kind, sinDecay=s, cosDecay=c, vThMant=vth, gradedSpike=False)  # noqa
    n1 = rf("RF_PHASE", 1234, 3700, 3)
    n2 = rf("RF_IZHIKEVICH", 3000, -2100, 2)
    wr1, wi1 = _weights(rng, 5, 4), _weights(rng, 5, 4)
    wr2, wi2 = _weights(rng, 3, 5, -40, 120), _weights(rng, 3, 5, -40, 120)
    path = _write(tmp_path / "rf.net", [
        dict(type="input", shape=np.array([4])),
        dict(type="dense", shape=np.array([5]), neuron=n1, **{"weight/real": wr1, "weight/imag": wi1}),
        dict(type="dense", shape=np.array([3]), neuron=n2, **{"weight/real": wr2, "weight/imag": wi2})])
    x = rng.integers(-3, 4, size=(STEPS, 4))
    out, states = _lava(path, x.T, input_message_bits=3, states={0: ("real", "imag"), 1: ("real", "imag")})
    prev, bits = _batch(x), 3
    for layer, (params, wr, wi) in enumerate([(n1, wr1, wi1), (n2, wr2, wi2)]):
        (kr,), er, _ = stock.lava_weights(wr)
        (ki,), ei, _ = stock.lava_weights(wi)
        trace = stock.run_rf(params, stock.dense_synapse(prev, kr, er, message_bits=bits),
                             stock.dense_synapse(prev, ki, ei, message_bits=bits))
        for name in ("real", "imag"):
            _same(f"layer {layer} {name}", trace[name], states[layer, name])
        _same(f"layer {layer} spikes", trace.s, out[layer])
        prev, bits = trace.s, stock.message_bits(params)
    assert out[0].any() and out[1].any()


def test_dense_rec_message_bits_exponent_and_delays(tmp_path):
    """netx's RecurrentDense: the recurrent synapse reads the neuron's own messages one step later with the
    layer's *input* message bits (lava-dl #372: binary input casts an SDNN layer's graded feedback to bool);
    weights optimised jointly (one exponent); with delays netx drops the exponent of both synapses."""
    rng = np.random.default_rng(3)
    sdnn = dict(type="SDNN", activation="relu", vThMant=0)
    cuba = dict(type="CUBA", iDecay=1024, vDecay=256, vThMant=100, refDelay=1, gradedSpike=False)
    w1, r1 = _weights(rng, 4, 4), _weights(rng, 4, 4)
    w2, r2 = _weights(rng, 4, 4, -32, 96), _weights(rng, 4, 4, -32, 32)
    delay = np.array([0, 1, 3, 2], np.float32)
    path = _write(tmp_path / "rec.net", [
        dict(type="input", shape=np.array([4])),
        dict(type="dense_rec", shape=np.array([4]), neuron=sdnn, weight=w1, weight_rec=r1),
        dict(type="dense_rec", shape=np.array([4]), neuron=cuba, weight=w2, weight_rec=r2, delay=delay)])
    x = rng.integers(0, 2, size=(STEPS, 4))
    with pytest.warns(UserWarning, match="Reset is not supported"):
        out, states = _lava(path, x.T, reset_interval=10, states={0: ("sigma",), 1: ("u",)})
    (k1, q1), e1, _ = stock.lava_weights(w1, r1)
    a1 = stock.dense_synapse(_batch(x), k1, e1, message_bits=0)
    layer1 = lambda bits, rec=q1: stock.run(stock.neuron_for(sdnn, (1, 4)), a1, recurrent=rec,  # noqa: E731
                                            weight_exp=e1, recurrent_message_bits=bits)
    t1 = layer1(0)
    _same("rec SDNN sigma", t1["sigma"], states[0, "sigma"])
    _same("rec SDNN", t1.s, out[0])
    assert np.any(layer1(16).s != t1.s) and np.any(layer1(0, None).s != t1.s)  # #372 and the recurrence matter
    (k2, q2), e2, _ = stock.lava_weights(w2, r2)
    d = stock.netx_delays(delay, k2.shape)
    layer2 = lambda exp, rec=q2: stock.run(  # noqa: E731
        stock.CubaNeuron((1, 4), cuba, reset_interval=10, reset_offset=stock.reset_offset(1)),
        stock.dense_synapse(t1.s, k2, exp, message_bits=stock.message_bits(sdnn), delay=d),
        recurrent=rec, weight_exp=exp, recurrent_message_bits=stock.message_bits(sdnn), recurrent_delay=d)
    t2 = layer2(0)
    _same("rec CUBA u", t2["u"], states[1, "u"])
    _same("rec CUBA spikes", t2.s, out[1])
    assert e2 != 0 and np.any(layer2(e2).s != t2.s) and np.any(layer2(0, None).s != t2.s)
    assert out[0].any() and out[1].any()


@pytest.mark.parametrize("sparse", [False, True], ids=["DelayDense", "DelaySparse"])
def test_axonal_delays_per_output_input_and_synapse(tmp_path, sparse):
    """ntidigits.net's delays (one per output neuron), and per input and per synapse, then a plain synapse;
    dense (Dense, DelayDense) and sparse (Sparse, DelaySparse)."""
    rng = np.random.default_rng(4)
    loihi = dict(type="LOIHI", iDecay=1024, vDecay=1024, vThMant=12, refDelay=1)
    w1, w2, w3 = _weights(rng, 6, 5), _weights(rng, 4, 6, -60, 128), _weights(rng, 3, 4, -60, 128)
    w4 = _weights(rng, 3, 3, -60, 128)
    w1[0, :2] = 0  # zero weights: DelaySparse drops them
    d1 = rng.integers(0, 5, size=6).astype(np.float32)
    d2 = np.concatenate([rng.integers(0, 4, size=5), [70]]).astype(np.float32)  # per input; 70 clips to 62
    d3 = rng.integers(0, 6, size=(3, 4)).astype(np.float32)
    path = _write(tmp_path / "delays.net", [
        dict(type="input", shape=np.array([5])),
        dict(type="dense", shape=np.array([6]), neuron=loihi, weight=w1, delay=d1),
        dict(type="dense", shape=np.array([4]), neuron=loihi, weight=w2, delay=d2),
        dict(type="dense", shape=np.array([3]), neuron=loihi, weight=w3, delay=d3),
        dict(type="dense", shape=np.array([3]), neuron=loihi, weight=w4)])  # Sparse when sparse_fc_layer
    x = rng.integers(0, 2, size=(STEPS, 5))
    with pytest.warns(UserWarning, match="Clamping"):
        out, _ = _lava(path, x.T, sparse=sparse)
    prev = _batch(x)
    for layer, (w, d) in enumerate([(w1, d1), (w2, d2), (w3, d3), (w4, None)]):
        (k,), e, _ = stock.lava_weights(w)
        delays = None if d is None else stock.netx_delays(d, k.shape)
        trace = stock.run_cuba(loihi, stock.dense_synapse(prev, k, e, message_bits=0, delay=delays))
        _same(f"layer {layer}", trace.s, out[layer])
        prev = trace.s
    assert all(o.any() for o in out)


def test_functions_are_batched_and_the_readout_averages_groups():
    """A batch gives each sample's own run; the average readout is slayer's mean over consecutive groups."""
    rng = np.random.default_rng(5)
    a = rng.integers(-300, 300, size=(20, 3, 6))
    params = dict(type="SDNN", vThMant=3)
    batched = stock.run_sdnn(params, a, bias=np.arange(6))
    for b in range(3):
        single = stock.run_sdnn(params, a[:, b:b + 1], bias=np.arange(6))
        assert np.array_equal(batched.s[:, b:b + 1], single.s)
    s = rng.integers(0, 2, size=(4, 2, 6))
    avg = stock.average_readout(s, 3)
    assert avg.shape == (4, 2, 3) and np.allclose(avg[..., 1], s[..., 2:4].mean(-1))
    with pytest.raises(ValueError, match="equal groups"):
        stock.average_readout(s, 4)


#: lava-dl's netx test files and ground truths, shipped in its wheel (site-packages/tests/lava/lib/dl/netx/gts).
SHIPPED = (Path(importlib.util.find_spec("lava.lib.dl.netx").submodule_search_locations[0]).parents[3]
           / "tests/lava/lib/dl/netx/gts")


def test_shipped_pilotnet_sdnn_output_equals_lava_dls_ground_truth():
    """lava-dl's test_pilotnet_sdnn ground truth (its Lava run: 9 steps, the image held in the Delta input neuron's
    a_in, so the input neuron reads step t's input in step t: lag 0) from :func:`lava_ternary.sim.simulate`."""
    path = SHIPPED / "pilotnet_sdnn/network.net"
    layers = sim.compile_network(path)
    timing = sim.default_timing(layers)
    timing = sim.Timing(phase=timing.phase, lag=(0,) + timing.lag[1:])
    image = np.load(SHIPPED / "pilotnet_sdnn/input.npy").transpose(2, 1, 0, 3)  # WHC -> CHW
    out = sim.simulate(layers, np.repeat(image, 9, axis=-1)[None], input_message_bits=16, timing=timing).output
    _same("pilotnet_sdnn output", out.reshape(-1), np.load(SHIPPED / "pilotnet_sdnn/output.npy").reshape(-1))


def test_shipped_ntidigits_output_is_lava_dls_ground_truth():
    """ntidigits.net (axonal delays on LOIHI neurons, an average readout) on the first 600 of its 3000 steps, from
    :func:`lava_ternary.sim.simulate`: the 242-neuron layer (phase 2: its window starts at Lava step 3) equals the
    ground truth (indexed from Lava step 0, slayer's convention) in every spike; the readout is its group mean."""
    steps = 600
    layers = sim.compile_network(SHIPPED / "ntidigits/ntidigits.net")
    x = np.load(SHIPPED / "ntidigits/input.npy")[:, :steps].reshape(1, 1, 1, 64, steps).astype(np.int64)
    result = sim.simulate(layers, x, input_message_bits=0)
    phase = sim.default_timing(layers).phase[-2]
    out = result.spikes[-2].reshape(242, steps)
    gt = np.load(SHIPPED / "ntidigits/output.npy")[:, :steps].astype(np.int64)
    _same("ntidigits output", out[:, :steps - phase - 1], gt[:, phase + 1:])
    assert out.sum() > 1000
    np.testing.assert_allclose(result.output.reshape(11, steps), out.reshape(11, 22, steps).mean(axis=1))
