"""TernaryCUBA on the Lava CPU simulator against the numpy definition (lava_ternary.fixed), step for step."""
import numpy as np
import pytest

import lava_ternary  # noqa: F401  (before lava)
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import TernaryLIF

from lava_ternary import fixed
from lava_ternary.proc import TernaryCUBA
from lava_ternary.proc.models import PyTernaryCUBAModelFloat


def reference(a_in, shape, *, i_decay, v_decay, vth, bias, v_init, interval, offset, soft, binary):
    """numpy loop: fixed.neuron_step plus the documented restart step (input dropped, state reset, no spike)."""
    u = np.zeros(shape, np.int64)
    v = np.broadcast_to(v_init, shape).astype(np.int64).copy()
    spikes, wrapped, saturated = [], False, False
    for t in range(1, a_in.shape[-1] + 1):
        if interval is not None and t % interval == offset % interval:
            u[:] = 0
            v = np.broadcast_to(v_init, shape).astype(np.int64).copy()
            spikes.append(np.zeros(shape, np.int64))
            continue
        pre_u = fixed.decay(u, i_decay) + (a_in[..., t - 1] << 6)
        wrapped |= bool(np.any(np.abs(pre_u) >= fixed.MAX_STATE))
        u, v, s = fixed.neuron_step(u, v, a_in[..., t - 1], i_decay=i_decay, v_decay=v_decay, vth=vth,
                                    bias=bias << 6, soft_reset=soft, binary=binary)
        saturated |= bool(np.any(fixed.decay(v, v_decay) + u + (bias << 6) >= fixed.MAX_STATE))
        spikes.append(s)
    return np.stack(spikes, -1), u, v, wrapped, saturated


def run_neuron(neuron, a_in, run_cfg=None):
    steps = a_in.shape[-1]
    source = Source(data=a_in)
    sink = Sink(shape=neuron.s_out.shape, buffer=steps)
    source.s_out.connect(neuron.a_in)
    neuron.s_out.connect(sink.a_in)
    try:
        neuron.run(RunSteps(steps), run_cfg or Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get(), neuron.u.get(), neuron.v.get()
    finally:
        neuron.stop()


@pytest.mark.parametrize("soft,binary,interval", [(False, False, 7), (True, False, None), (False, True, 5)])
def test_fixed_model_matches_numpy_definition(soft, binary, interval):
    rng = np.random.default_rng(3)
    shape = (3, 2, 4)  # WHC, per-channel v_init, i_decay and bias broadcast on the last axis
    steps = 40
    a_in = rng.integers(-2500, 2500, shape + (steps,))
    a_in[..., 10:14] = 131000  # drives u past 2**23 (wrap) and v into saturation
    params = dict(i_decay=np.array([0, 1024, 2048, 4096]), v_decay=300, vth=900, bias=np.array([0, 5, -7, 100]),
                  v_init=np.array([0, 3000, -3000, 60000]))
    neuron = TernaryCUBA(shape=shape, i_decay=params["i_decay"], v_decay=params["v_decay"], vth=params["vth"],
                         bias_mant=params["bias"], v_init=params["v_init"], reset_interval=interval,
                         reset_offset=3, reset_mode="soft" if soft else "hard",
                         spike_mode="binary" if binary else "ternary")
    spikes, u, v = run_neuron(neuron, a_in)
    ref_s, ref_u, ref_v, wrapped, saturated = reference(a_in, shape, interval=interval, offset=3, soft=soft, binary=binary, **params)
    np.testing.assert_array_equal(spikes, ref_s)
    np.testing.assert_array_equal(u, ref_u)
    np.testing.assert_array_equal(v, ref_v)
    assert np.count_nonzero(ref_s) > 20
    assert binary == (not np.any(ref_s < 0))
    assert wrapped and saturated


def test_is_a_ternary_lif_and_negative_spikes_survive_dense():
    """The spike port carries signed integers: -1 reaches a graded Dense as -1 (a bool port would make it +1)."""
    steps = 12
    a_in = np.zeros((2, steps), np.int64)
    a_in[0, ::2] = 5000
    a_in[1, ::3] = -5000
    neuron = TernaryCUBA(shape=(2,), vth=10)
    assert isinstance(neuron, TernaryLIF)
    weights = np.array([[10, 20], [-30, 4]])
    dense = Dense(weights=weights, num_message_bits=2)
    source, sink = Source(data=a_in), Sink(shape=(2,), buffer=steps)
    spikes_sink = Sink(shape=(2,), buffer=steps)
    source.s_out.connect(neuron.a_in)
    neuron.s_out.connect(dense.s_in)
    neuron.s_out.connect(spikes_sink.a_in)
    dense.a_out.connect(sink.a_in)
    try:
        neuron.run(RunSteps(steps), Loihi2SimCfg(select_tag="fixed_pt"))
        spikes, out = spikes_sink.data.get(), sink.data.get()
    finally:
        neuron.stop()
    assert np.any(spikes < 0) and np.any(spikes > 0)
    np.testing.assert_array_equal(out[:, 1:], weights @ spikes[:, :-1])


def test_floating_model_is_the_same_equations_within_tolerance():
    rng = np.random.default_rng(5)
    shape, steps = (20,), 57
    a_in = rng.integers(-400, 400, shape + (steps,))
    kwargs = dict(shape=shape, i_decay=1000, v_decay=700, vth=300, bias_mant=3, v_init=1000, reset_interval=20)
    fixed_s, _, _ = run_neuron(TernaryCUBA(**kwargs), a_in)
    cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={TernaryCUBA: PyTernaryCUBAModelFloat})
    float_s, _, float_v = run_neuron(TernaryCUBA(**kwargs), a_in, cfg)
    assert np.any(float_v != np.round(float_v))  # really float arithmetic
    total = np.count_nonzero(fixed_s)
    assert total > 100
    # tolerance stated in docs/netx_schema.md: at most 2 % of the steps differ
    assert np.count_nonzero(float_s != fixed_s) <= 0.02 * fixed_s.size


@pytest.mark.parametrize("kwargs,name", [(dict(vth=0), "vth"), (dict(vth=1 << 17), "vth"),
                                         (dict(i_decay=4097), "i_decay"), (dict(reset_mode="none"), "reset_mode"),
                                         (dict(spike_mode="graded"), "spike_mode"),
                                         (dict(v_init=[1, 2, 3]), "v_init"), (dict(reset_interval=0), "reset_interval"),
                                         (dict(v_init=1 << 23), "v_init")])
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TernaryCUBA(shape=(4,), **kwargs)
