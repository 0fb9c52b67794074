"""Tests of lava_ternary.neuron.Ternary: Eqs. 7/8 by hand, integer parity, gradients, state, errors."""
import lava_ternary  # noqa: F401  (lava import fix first)

import numpy as np
import pytest
import torch

from lava_ternary import fixed
from lava_ternary.neuron import AMPLITUDE_MIN, PAPER_PARAMS, Ternary, neuron_params

S = 4096  # state scale


def run(neuron, x, bias=None):
    """Output spikes b and the pre-reset voltage for inputs given as a list (one neuron) or tensor."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() == 1:
        x = x.reshape(1, 1, -1)
    _, voltage = neuron.dynamics(x, bias)
    out = neuron.spike(voltage)
    return out.detach(), voltage.detach()


# ---------------------------------------------------------------- hand-computed sequences (Eqs. 7/8)
def test_positive_spike_and_hard_reset():
    n = Ternary(0.5, 1.0, 0.5)
    b, v = run(n, [0.375, 0.375, 0.0, 0.0])
    # v1 = 0.375; v2 = 0.1875 + 0.375 = 0.5625 > 0.5 -> +1, reset to 0; then 0
    assert b.flatten().tolist() == [0, 1, 0, 0]
    assert v.flatten().tolist() == [0.375, 0.5625, 0.0, 0.0]


def test_negative_spike_and_reset():
    n = Ternary(0.5, 1.0, 0.5)
    b, v = run(n, [-0.375, -0.375, 0.0])
    assert b.flatten().tolist() == [0, -1, 0]
    assert v.flatten().tolist() == [-0.375, -0.5625, 0.0]


def test_reset_on_both_signs_and_strict_threshold():
    n = Ternary(0.5, 1.0, 1.0)  # v = u = x
    b, _ = run(n, [0.75, -0.75, 0.5, -0.5, 0.515625, -0.515625])
    # exactly at +-threshold is silent (Loihi's strict comparison)
    assert b.flatten().tolist() == [1, -1, 0, 0, 1, -1]


def test_leak_rounds_toward_zero():
    n = Ternary(0.5, 1.0, 0.5)
    _, v = run(n, [0.375, 0, 0, 0])
    assert v.flatten().tolist() == [0.375, 0.1875, 0.09375, 0.046875]
    n = Ternary(2.0, 1.0, 0.5)
    _, v = run(n, [-3 / S, 0, 0])  # -3 -> trunc(-1.5) = -1 -> trunc(-0.5) = 0 (not floor)
    assert (v.flatten() * S).tolist() == [-3, -1, 0]


def test_current_decays_and_is_not_reset():
    n = Ternary(0.5, 0.5, 1.0)  # u halves each step; v = u
    b, v = run(n, [0.75, 0, 0])
    assert v.flatten().tolist() == [0.75, 0.375, 0.1875]
    assert b.flatten().tolist() == [1, 0, 0]


def test_soft_reset_subtracts_threshold():
    n = Ternary(0.5, 1.0, 0.0, reset="soft")  # no voltage leak
    b, v = run(n, [0.75, 0.0, -1.5, 0.0])
    # 0.75 -> +1, v=0.25 ; 0.25 ; 0.25-1.5=-1.25 -> -1, v=-0.75 ; -0.75 -> -1, v=-0.25
    assert b.flatten().tolist() == [1, 0, -1, -1]
    assert v.flatten().tolist() == [0.75, 0.25, -1.25, -0.75]


def test_v_init_starts_every_sample():
    x = [0.3125, 0.0]
    assert run(Ternary(0.5, 1.0, 0.0), x)[0].flatten().tolist() == [0, 0]
    n = Ternary(0.5, 1.0, 0.0, v_init=0.25)
    for _ in range(2):  # same result on every call: v_init applies at each sample start
        b, v = run(n, x)
        assert b.flatten().tolist() == [1, 0]
        assert v.flatten().tolist() == [0.5625, 0.0]
    per_channel = Ternary(0.5, 1.0, 0.0, v_init=[0.25, 0.0])
    b, _ = run(per_channel, torch.full((1, 2, 1), 0.3125))
    assert b.flatten().tolist() == [1, 0]


def test_bias_is_added_every_step():
    n = Ternary(0.5, 1.0, 0.0)
    b, v = run(n, torch.zeros(1, 1, 4), bias=torch.tensor([0.1875]))
    assert v.flatten().tolist() == [0.1875, 0.375, 0.5625, 0.1875]
    assert b.flatten().tolist() == [0, 0, 1, 0]


def test_binary_mode_never_emits_minus_one():
    n = Ternary(0.5, 1.0, 0.5, spike_mode="binary")
    b, v = run(n, [-0.75, -0.75, 1.5])
    assert b.flatten().tolist() == [0, 0, 1]
    assert v.flatten().tolist() == [-0.75, -1.125, 0.9375]  # no reset on the negative side
    g = torch.Generator().manual_seed(3)
    b, _ = run(Ternary(0.5, 1.0, 0.5, spike_mode="binary"), torch.randn(4, 8, 20, generator=g).mul(64).round().div(64))
    assert (b >= 0).all() and (b > 0).any()


def test_paper_params_preset():
    n = Ternary(**PAPER_PARAMS)
    assert (n.threshold, n.cx_current_decay, n.cx_voltage_decay) == (0.5, 4096, 3072)


# ---------------------------------------------------------------- integer references
def own_reference(a_in, i_decay, v_decay, vth, bias, v0, soft, binary):
    """Independent plain-numpy integer loop of Eqs. 7/8 (slayer fixed point: state = value * 4096)."""
    def leak(x, d):
        p = x * (4096 - d)
        return np.sign(p) * (np.abs(p) // 4096)

    th = vth * 64
    u = np.zeros(a_in.shape[:-1], np.int64)
    v = np.broadcast_to(v0, u.shape).astype(np.int64)
    out = np.zeros(a_in.shape, np.int64)
    for t in range(a_in.shape[-1]):
        u = leak(u, i_decay) + a_in[..., t] * 64
        u = np.where(u > 2 ** 23, u - 2 ** 24, np.where(u <= -2 ** 23, u + 2 ** 24, u))
        v = np.clip(leak(v, v_decay) + u + bias, -(2 ** 23 - 1), 2 ** 23 - 1)
        s = (v > th).astype(np.int64) - (0 if binary else (v < -th).astype(np.int64))
        v = v - s * th if soft else np.where(s != 0, 0, v)
        out[..., t] = s
    return out


def fixed_reference(a_in, i_decay, v_decay, vth, bias, v0, soft, binary):
    """The project's integer step, lava_ternary.fixed.neuron_step, looped over time."""
    u = np.zeros(a_in.shape[:-1], np.int64)
    v = np.broadcast_to(v0, u.shape).astype(np.int64)
    spikes = []
    for t in range(a_in.shape[-1]):
        u, v, s = fixed.neuron_step(u, v, a_in[..., t], i_decay=i_decay, v_decay=v_decay, vth=vth,
                                    bias=bias, soft_reset=soft, binary=binary)
        spikes.append(s)
    return np.stack(spikes, -1)


CASES = [  # (threshold, current_decay, voltage_decay)
    (0.5, 1.0, 0.75), (0.25, 0.0, 0.0), (1.0, 0.5, 0.125), (0.703125, 0.3, 0.9), (3.0, 0.05, 0.0)]


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 32])
@pytest.mark.parametrize("layout", ["dense", "conv"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_forward_matches_integer_references(steps, layout, case):
    rng = np.random.default_rng(100 * case + steps)
    threshold, cdecay, vdecay = CASES[case]
    shape = (3, 6) if layout == "dense" else (2, 3, 4, 5)
    channels = shape[1]
    for soft in (False, True):
        for binary in (False, True):
            v_init = rng.integers(-40, 40, channels) / 64 if rng.random() < 0.5 else float(rng.integers(-20, 20) / 64)
            n = Ternary(threshold, cdecay, vdecay, reset="soft" if soft else "hard",
                        spike_mode="binary" if binary else "ternary", v_init=v_init)
            a_in = rng.integers(-2 * 64 * threshold, 2 * 64 * threshold + 1, shape + (steps,))
            bias_mant = rng.integers(-16, 17, channels)
            b, _ = run(n, torch.tensor(a_in / 64, dtype=torch.float32), bias=torch.tensor(bias_mant / 64))
            view = (1, -1) + (1,) * (len(shape) - 2)
            v0 = np.round(np.asarray(v_init) * S).astype(np.int64)
            args = (int(n.cx_current_decay), int(n.cx_voltage_decay), n.v_th_mant,
                    (bias_mant * 64).reshape(view), v0.reshape(view) if v0.ndim else v0, soft, binary)
            ref = fixed_reference(a_in, *args)
            np.testing.assert_array_equal(b.numpy().astype(np.int64), ref)
            np.testing.assert_array_equal(own_reference(a_in, *args), ref)


def test_saturation_and_wrap_match_fixed():
    rng = np.random.default_rng(7)
    n = Ternary(fixed.MAX_VTH_MANT / 64, 0.0, 0.0)  # no leak, largest threshold: states run into 24 bits
    a_in = rng.integers(20000, 40000, (2, 5, 24)) * rng.choice([-1, 1], (2, 5, 1))
    b, v = run(n, torch.tensor(a_in / 64, dtype=torch.float32))
    ref = fixed_reference(a_in, 0, 0, fixed.MAX_VTH_MANT, 0, 0, False, False)
    np.testing.assert_array_equal(b.numpy().astype(np.int64), ref)
    assert np.abs(v.numpy() * S).max() == 2 ** 23 - 1  # voltage saturated
    current, _ = n.dynamics(torch.tensor(a_in / 64, dtype=torch.float32))
    u = current.numpy() * S
    assert u.max() <= 2 ** 23 and u.min() > -2 ** 23 and (np.diff(np.sign(u), axis=-1) != 0).any()  # wrapped


def test_graded_integer_input_is_not_truncated():
    x = torch.arange(17, dtype=torch.float32).reshape(1, 17, 1).repeat(1, 1, 3) * (6 / 64)
    n = Ternary(4.0, 1.0, 1.0)
    current, _ = n.dynamics(x)
    assert torch.equal(current, x)


# ---------------------------------------------------------------- persistent state, shapes, errors
def test_persistent_state_continues_after_negative_spikes():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(-48, 49, (2, 7, 12), generator=g).float() / 64
    for reset in ("hard", "soft"):
        whole, _ = run(Ternary(0.5, 0.25, 0.5, reset=reset, v_init=0.125), x)
        n = Ternary(0.5, 0.25, 0.5, reset=reset, v_init=0.125, persistent_state=True)
        parts = torch.cat([run(n, x[..., :5])[0], run(n, x[..., 5:])[0]], dim=-1)
        assert (whole == -1).any()
        assert torch.equal(parts, whole)


def test_bad_parameters_raise_value_error_naming_them():
    cases = [(dict(threshold=0), "threshold"), (dict(threshold=-1), "threshold"),
             (dict(threshold=1e-3), "threshold"), (dict(current_decay=1.5), "current_decay"),
             (dict(voltage_decay=-0.1), "voltage_decay"), (dict(reset="zero"), "reset"),
             (dict(spike_mode="quaternary"), "spike_mode"), (dict(surrogate="sigmoid"), "surrogate"),
             (dict(amplitude=0.5), "amplitude: the spike amplitude is no longer a neuron parameter"),
             (dict(learn_amplitude=True, amplitude_shape="channel"), "amplitude_shape, learn_amplitude: .*"
                                                                     "input_amplitude='layer'"),
             (dict(scale=32), "scale"), (dict(graded_spike=True), "graded_spike")]
    for change, name in cases:
        params = dict(PAPER_PARAMS, **change)
        with pytest.raises(ValueError, match=name):
            Ternary(**params)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['amplitud'\\]"):
        Ternary(**PAPER_PARAMS, amplitud=0.5)
    n = Ternary(**PAPER_PARAMS, v_init=[0.1, 0.2])
    with pytest.raises(ValueError, match="v_init"):
        n.init_channels(3)
    fixed_shape = Ternary(**PAPER_PARAMS)
    fixed_shape.set_shape((4,))
    with pytest.raises(ValueError, match="shape"):
        fixed_shape(torch.zeros(1, 5, 2))


def test_device_params_and_inverse():
    n = Ternary(0.75, 0.25, 0.5, reset="soft", spike_mode="binary", v_init=[0.5, -0.25])
    p = n.device_params
    assert p["type"] == "TERNARY" and p["messageBits"] == 2 and p["gradedSpike"] is False
    assert (p["vThMant"], p["iDecay"], p["vDecay"], p["refDelay"]) == (48, 1024, 2048, 1)
    assert (p["resetMode"], p["spikeMode"]) == ("soft", "binary")
    assert p["vInit"].tolist() == [2048, -1024] and "amplitude" not in p
    back = neuron_params(p)
    assert back == {"threshold": 0.75, "current_decay": 0.25, "voltage_decay": 0.5, "reset": "soft",
                    "spike_mode": "binary", "v_init": [0.5, -0.25]}
    assert Ternary(**back).device_params["vInit"].tolist() == [2048, -1024]


def test_state_dict_round_trip():
    g = torch.Generator().manual_seed(2)
    x = torch.randint(-48, 49, (2, 3, 4, 4, 6), generator=g).float() / 64
    a = Ternary(0.5, 0.25, 0.5, v_init=[0.1, 0.2, 0.3], shared_param=False)
    out_a = a(x)
    with torch.no_grad():
        a.v_init.mul_(torch.tensor([-2.0, 1.5, 2.0]))
    b = Ternary(0.5, 0.25, 0.5, v_init=0.0, shared_param=False)
    b.init_channels(3)
    b.load_state_dict(a.state_dict())
    assert b.shape == torch.Size([3, 4, 4])
    assert torch.equal(b(x), a(x)) and not torch.equal(b(x), out_a)
    assert torch.equal(b.current_decay, a.current_decay)


# ---------------------------------------------------------------- gradients
def surrogate_primitive(v, th, kind, binary, tau=None, scale=None):
    """A smooth function whose derivative is the surrogate (checked by finite differences)."""
    if kind == "ste":
        return torch.clamp(v / th, 0.0 if binary else -1.0, 1.0)

    def half(d):  # integral of scale/(2 tau) exp(-|d|/tau)
        return scale / 2 * torch.sign(d) * (1 - torch.exp(-d.abs() / tau))
    return half(v - th) + (0 if binary else half(v + th))


@pytest.mark.parametrize("kind", ["ste", "exp"])
@pytest.mark.parametrize("binary", [False, True])
def test_surrogate_matches_finite_differences(kind, binary):
    n = Ternary(0.5, 1.0, 1.0, surrogate=kind, spike_mode="binary" if binary else "ternary", tau_grad=0.01,
                scale_grad=3.0)
    v = torch.tensor([-84, -45, -26, -3, 3, 19, 29, 38, 70], dtype=torch.float64) / 64  # exact states
    x = v.reshape(1, -1, 1).float().requires_grad_()  # v = u = x for one step
    n(x).sum().backward()
    tau, scale = n.tau_rho * 100, n.scale_rho * 0.1
    h = 1e-6
    fd = (surrogate_primitive(v + h, 0.5, kind, binary, tau, scale)
          - surrogate_primitive(v - h, 0.5, kind, binary, tau, scale)) / (2 * h)
    np.testing.assert_allclose(x.grad.flatten().double().numpy(), fd.numpy(), rtol=1e-4, atol=1e-6)


def test_backward_of_dynamics_matches_finite_differences():
    """Below threshold the neuron is a linear (rounded) double filter: its gradient is checked by FD."""
    n = Ternary(2000.0, 0.25, 0.5)
    g = torch.Generator().manual_seed(4)
    x = (torch.randint(-64, 65, (1, 3, 10), generator=g).float() / 64).requires_grad_()
    weights = torch.randn(1, 3, 10, generator=g)
    _, v = n.dynamics(x)
    (v * weights).sum().backward()
    grad = x.grad.clone()
    h = 1.0
    for idx in [(0, 0, 0), (0, 1, 4), (0, 2, 9)]:
        xp, xm = x.detach().clone(), x.detach().clone()
        xp[idx] += h
        xm[idx] -= h
        fd = ((n.dynamics(xp)[1] - n.dynamics(xm)[1]) * weights).sum() / (2 * h)
        assert abs(fd.item() - grad[idx].item()) < 2e-3


def toy_spikes():
    g = torch.Generator().manual_seed(5)
    return torch.randint(-64, 65, (8, 4, 16), generator=g).float() / 64


def test_input_amplitude_is_clamped_positive_and_fixed_when_asked():
    from lava_ternary import block, fold

    d = block.Dense(dict(PAPER_PARAMS), 4, 3, weight_scale=64, input_amplitude="layer")
    with torch.no_grad():
        d.input_amplitude.fill_(-3.0)
    w = d.synapse.weight
    assert torch.equal(fold.folded_weight(d), d.neuron.quantize_8bit(AMPLITUDE_MIN * w))
    d.input_amplitude.requires_grad_(False)
    d(toy_spikes()).sum().backward()
    assert d.input_amplitude.grad is None and d.synapse.weight.grad is not None


def test_per_channel_decays_match_fixed():
    torch.manual_seed(8)
    n = Ternary(0.5, (0.1, 0.6), (0.2, 0.9), shared_param=False)
    n.set_shape((4, 3, 3))
    i_decay, v_decay = n.cx_current_decay, n.cx_voltage_decay
    assert i_decay.shape == (4,) and len(set(i_decay.tolist())) > 1
    a_in = np.random.default_rng(8).integers(-64, 65, (2, 4, 3, 3, 16))
    b, _ = run(n, torch.tensor(a_in / 64, dtype=torch.float32))
    view = (1, 4, 1, 1)
    ref = fixed_reference(a_in, i_decay.reshape(view), v_decay.reshape(view), 32, 0, 0, False, False)
    np.testing.assert_array_equal(b.numpy().astype(np.int64), ref)
    assert n.device_params["iDecay"].shape == (4,)
