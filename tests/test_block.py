"""Tests of lava_ternary.block and lava_ternary.fold: folding contract, bias, logs, export without forward."""
import lava_ternary  # noqa: F401  (lava import fix first)

import io

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lava_ternary import block, fixed, fold
from lava_ternary.neuron import PAPER_PARAMS

P = dict(PAPER_PARAMS)


def params(**extra):
    return dict(P, **extra)


def q8(w):
    """slayer's quantize_8bit in float units."""
    return (torch.round(w / (2 / 64)) * (2 / 64)).clamp(-256 / 64, 254 / 64)


def set_amplitude(blk, values):
    with torch.no_grad():
        blk.input_amplitude.copy_(torch.as_tensor(values, dtype=torch.float32))


def export(blocks):
    """Export blocks into an in-memory netx file; return {path: value} of every dataset."""
    out = {}
    with h5py.File(io.BytesIO(), "w") as f:
        layer = f.create_group("layer")
        for i, b in enumerate(blocks):
            b.export_hdf5(layer.create_group(str(i)))
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


# ---------------------------------------------------------------- folding
def test_folded_weight_layer_amplitude_is_the_blocks_own_parameter():
    torch.manual_seed(0)
    net = [block.Dense(params(), 6, 5), block.Dense(params(), 5, 4, weight_scale=3, input_amplitude="layer")]
    assert net[0].input_amplitude is None and net[1].input_amplitude.requires_grad
    set_amplitude(net[1], [0.7])
    assert torch.equal(fold.folded_weight(net[1]), q8(0.7 * net[1].synapse.weight))
    assert torch.equal(fold.folded_weight(net[0]), q8(net[0].synapse.weight))
    assert set(net[1].state_dict()) - set(net[0].state_dict()) == {"input_amplitude"}
    assert "amplitude" not in net[0].neuron.device_params  # no amplitude in the file: the weights hold it


def test_folded_weight_per_channel_conv_groups_and_flatten():
    torch.manual_seed(1)
    a = torch.tensor([0.5, 1.25, 2.0, 0.75])
    net = [block.Conv(params(), 2, 4, 3, padding=1, input_shape=(2, 5, 5)),
           block.Conv(params(), 4, 6, 3, padding=1, groups=2, weight_scale=2, input_amplitude="channel"),
           block.Flatten(),
           block.Dense(params(), 6 * 25, 3, weight_scale=4, input_amplitude="channel", amplitude_channels=6)]
    set_amplitude(net[1], a)
    a2 = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.25, 3.0])
    set_amplitude(net[3], a2)
    w = net[1].synapse.weight  # (6, 2, 3, 3, 1): outputs 0-2 read inputs 0,1; outputs 3-5 read inputs 2,3
    per_in = torch.stack([a[:2]] * 3 + [a[2:]] * 3).reshape(6, 2, 1, 1, 1)
    assert torch.equal(fold.folded_weight(net[1]), q8(per_in * w))
    wd = net[3].synapse.weight  # (3, 150, 1, 1, 1): channel c covers features 25c .. 25c+24
    assert torch.equal(fold.folded_weight(net[3]), q8(a2.repeat_interleave(25).reshape(1, 150, 1, 1, 1) * wd))
    block.propagate_shapes(net)
    assert net[2].shape == [150, 1, 1]  # shapes only
    assert block.Dense(params(), 8, 2, input_amplitude="channel").input_amplitude.shape == (8,)


def test_amplitude_and_delay_arguments_are_checked_at_construction():
    with pytest.raises(ValueError, match="pooling kernel shared by all channels"):
        block.Pool(params(), 2, input_amplitude="channel")
    assert block.Pool(params(), 2, input_amplitude="layer").input_amplitude.shape == (1,)
    with pytest.raises(ValueError, match="does not divide"):
        block.Dense(params(), 10, 2, input_amplitude="channel", amplitude_channels=3)
    with pytest.raises(ValueError, match="amplitude_channels is for"):
        block.Conv(params(), 2, 2, 3, input_amplitude="channel", amplitude_channels=2)
    with pytest.raises(ValueError, match="input_amplitude must be None, 'layer' or 'channel'"):
        block.Dense(params(), 2, 2, input_amplitude=0.5)
    with pytest.raises(ValueError, match="learn_amplitude: .*input_amplitude='layer'"):
        block.Dense(params(learn_amplitude=True), 2, 2)
    with pytest.raises(AttributeError, match="fold.link is gone: nothing needs linking"):
        fold.link([])
    for make in (lambda: block.Conv(params(), 2, 2, 3, delay=True), lambda: block.Pool(params(), 2, delay=True)):
        with pytest.raises(ValueError, match="netx builds convolution and pooling layers without delays"):
            make()


def test_forward_takes_plain_spikes_through_the_folded_weight():
    torch.manual_seed(2)
    src = block.Dense(params(), 8, 6, weight_scale=4)
    dst = block.Dense(params(), 6, 5, weight_scale=4, input_amplitude="layer")
    set_amplitude(dst, [0.6])
    x = (torch.rand(3, 8, 10) * 4).round() / 2
    b = src(x)
    assert set(torch.unique(b).tolist()) <= {-1.0, 0.0, 1.0} and (b == -1).any()
    out = dst(b)
    plain = block.Dense(params(), 6, 5, pre_hook_fx=None)
    with torch.no_grad():
        plain.synapse.weight.copy_(fold.folded_weight(dst))
    assert torch.equal(out, plain(b))
    seq = torch.nn.Sequential(src, dst)
    assert torch.equal(seq(x), out)  # any composition: nothing to link


def test_amplitude_gradient_through_the_fold():
    torch.manual_seed(3)
    src = block.Dense(params(), 8, 6, weight_scale=4)
    dst = block.Dense(params(), 6, 5, weight_scale=6, input_amplitude="layer")
    set_amplitude(dst, [0.8])
    x = (torch.rand(4, 8, 12) * 4).round() / 2
    weights = torch.randn(4, 5, 12)
    (dst(src(x)) * weights).sum().backward()
    grad = dst.input_amplitude.grad.clone()
    with torch.no_grad():
        b = src(x)
    a_ref = torch.tensor([0.8], requires_grad=True)
    z = F.conv3d(b.reshape(4, 6, 1, 1, 12), q8_ste(a_ref * dst.synapse.weight.detach())).reshape(4, 5, 12)
    from lava.lib.dl.slayer.block.base import step_delay
    (step_delay(dst, dst.neuron(z)) * weights).sum().backward()
    assert grad.abs().item() > 0
    torch.testing.assert_close(grad, a_ref.grad, rtol=1e-4, atol=1e-6)


def test_axonal_delay_shifts_each_neurons_input_by_its_integer_delay():
    torch.manual_seed(9)
    d = block.Dense(params(threshold=0.25), 3, 4, weight_scale=4, delay=True)
    plain = block.Dense(params(threshold=0.25), 3, 4)
    with torch.no_grad():
        d.delay.delay.copy_(torch.tensor([0.0, 1.7, 3.2, 70.0]))
        plain.synapse.weight.copy_(d.synapse.weight)
    x = torch.randint(-1, 2, (2, 3, 12)).float()
    z = plain.synapse(x)
    steps = [0, 1, 3, 62]  # integer part, clamped to 0..62 as exported
    assert export([d])["layer/0/delay"].tolist() == steps and d.delay.delay[3] == 70  # export changes nothing
    shifted = torch.stack([torch.nn.functional.pad(z[:, n], (s, 0))[..., :12] for n, s in enumerate(steps)], 1)
    from lava.lib.dl.slayer.block.base import step_delay
    expected = step_delay(plain, plain.neuron(shifted))
    y = d(x)
    assert torch.equal(y, expected) and (y[:, 1] != 0).any()
    (y * torch.randn_like(y)).sum().backward()
    assert d.delay.delay.grad is not None and d.delay.delay.grad.abs().sum() > 0
    assert export([d])["layer/0/delay"].tolist() == steps


def q8_ste(w):
    """q8 with a straight-through gradient, as slayer's quantize."""
    return w + (q8(w) - w).detach()


# ---------------------------------------------------------------- bias, logs, graded input
def test_bias_quantised_clamped_and_exported():
    d = block.Dense(params(voltage_decay=0.0), 3, 4, bias=True)
    with torch.no_grad():
        d.bias.copy_(torch.tensor([0.30, -0.01, 100.0, -100.0]))
    assert d.quantized_bias().tolist() == [19 / 64, -1 / 64, 4095 / 64, -4095 / 64]
    data = export([d])
    assert data["layer/0/bias"].tolist() == [19, -1, 4095, -4095]
    with torch.no_grad():
        d.synapse.weight.zero_()
        d.bias.copy_(torch.tensor([0.1875, -0.1875, 0.0, 0.0]))
    out = d(torch.zeros(1, 3, 5))
    assert out[0, 0].tolist() == [0, 0, 0, 1, 0] and out[0, 1].tolist() == [0, 0, 0, -1, 0]  # delay_shift
    (d(torch.zeros(1, 3, 5)) * torch.randn(1, 4, 5)).sum().backward()
    assert d.bias.grad is not None


def test_count_log_counts_negative_spikes():
    d = block.Dense(params(), 2, 2, count_log=True, delay_shift=False)
    with torch.no_grad():
        d.synapse.weight.copy_(torch.tensor([[-2.0, 0.0], [0.0, -2.0]]).reshape(2, 2, 1, 1, 1))
    out, rate = d(torch.ones(1, 2, 4))
    assert (out == -1).all() and rate.item() == 1.0


def test_graded_input_dense_matches_fixed_step():
    torch.manual_seed(4)
    d = block.Dense(params(), 5, 3, weight_scale=2, delay_shift=False)
    x = torch.randint(0, 17, (2, 5, 6)).float()  # digits pixel levels
    b = d(x).detach()
    w_int = (fold.folded_weight(d) * 64).reshape(3, 5).detach().numpy().astype(np.int64)
    u = np.zeros((2, 3), np.int64)
    v = np.zeros((2, 3), np.int64)
    for t in range(6):
        u, v, s = fixed.neuron_step(u, v, x[..., t].numpy().astype(np.int64) @ w_int.T, i_decay=4096, v_decay=3072,
                                    vth=32)
        np.testing.assert_array_equal(b[..., t].numpy(), s)


def test_network_with_amplitudes_equals_integer_simulation_of_export():
    """Two blocks with learnt amplitudes and biases: spikes equal an integer sim of the exported file."""
    torch.manual_seed(5)
    net = [block.Dense(params(v_init=0.25, reset="soft"), 6, 8, weight_scale=3, bias=True, input_amplitude="layer"),
           block.Dense(params(threshold=0.75, current_decay=0.5), 8, 4, weight_scale=3, bias=True,
                       input_amplitude="channel")]
    set_amplitude(net[0], [0.45])
    set_amplitude(net[1], torch.rand(8) + 0.3)
    with torch.no_grad():
        for b in net:
            b.bias.uniform_(-0.3, 0.3)
    x = torch.randint(0, 17, (3, 6, 20)).float()
    s1 = net[0](x)
    s2 = net[1](s1)
    data = export(net)
    spikes = x.numpy().astype(np.int64)
    for i, expected in enumerate((s1, s2)):
        g = {k.split("/", 2)[2]: v for k, v in data.items() if k.startswith(f"layer/{i}/")}
        w = g["weight"].astype(np.int64)
        u = np.zeros((3, w.shape[0]), np.int64)
        v = np.broadcast_to(g["neuron/vInit"], u.shape).astype(np.int64)
        out = np.zeros((3, w.shape[0], 20), np.int64)
        for t in range(20):
            u, v, s = fixed.neuron_step(u, v, spikes[..., t] @ w.T, i_decay=g["neuron/iDecay"],
                                        v_decay=g["neuron/vDecay"], vth=g["neuron/vThMant"], bias=g["bias"] << 6,
                                        soft_reset=g["neuron/resetMode"] == b"soft")
            out[..., t] = s
        out = np.concatenate([np.zeros_like(out[..., :1]), out[..., :-1]], axis=-1)  # block step delay
        np.testing.assert_array_equal(expected.detach().numpy(), out)
        assert (out != 0).any()
        spikes = out


# ---------------------------------------------------------------- export
def make_net(shapes: bool):
    """A net of every block type; ``shapes`` gives the input block its shape (others via propagate_shapes)."""
    inp = block.Input(params(), weight=1.0, bias=0.0, input_shape=(2, 8, 8) if shapes else None)
    return torch.nn.ModuleList([
        inp,
        block.Conv(params(), 2, 4, 3, padding=1, weight_scale=3, bias=True, input_amplitude="layer"),
        block.Conv(params(v_init=[0.1, 0.2, 0.3, 0.4]), 4, 4, 3, padding=1, groups=2, weight_scale=3,
                   input_amplitude="channel"),
        block.Pool(params(reset="soft", spike_mode="binary"), 2, input_amplitude="layer"),
        block.Flatten(),
        block.Dense(params(), 64, 10, weight_scale=3, bias=True, input_amplitude="channel", amplitude_channels=4),
        block.Affine(params(), 10, 6, weight_scale=3, input_amplitude="layer"),
        block.Average(3),
    ])


def forward(net, x):
    for b in net:
        x = b(x)
    return x


def test_export_every_block_after_load_state_dict_without_forward():
    torch.manual_seed(6)
    trained = make_net(shapes=False)
    with torch.no_grad():
        for b in trained:
            if getattr(b, "input_amplitude", None) is not None:
                b.input_amplitude.mul_(torch.rand(b.input_amplitude.shape) + 0.5)
            if getattr(b, "bias", None) is not None and isinstance(b.bias, torch.nn.Parameter) and b.bias.numel() > 1:
                b.bias.uniform_(-0.2, 0.2)
    y = forward(trained, torch.randint(0, 3, (2, 2, 8, 8, 5)).float())
    assert y.shape == (2, 3, 5)
    reference = export(trained)
    fresh = make_net(shapes=False)
    fresh.load_state_dict(trained.state_dict())
    loaded = export(fresh)  # no forward pass
    assert reference.keys() == loaded.keys()
    for key in reference:
        np.testing.assert_array_equal(reference[key], loaded[key], err_msg=key)
    assert reference["layer/0/type"][0] == b"input" and reference["layer/3/type"][0] == b"pool"
    assert reference["layer/7/shape"].tolist() == [3, 1, 1] and reference["layer/4/shape"].tolist() == [64, 1, 1]
    assert reference["layer/3/shape"].tolist() == [4, 4, 4] and reference["layer/6/neuron/vThMant"] == 2 ** 17 - 1
    for i, b in enumerate(trained):
        if hasattr(b, "synapse"):
            w = reference[f"layer/{i}/weight"]
            assert np.array_equal(w.ravel(), (fold.folded_weight(b) * 64).detach().numpy().ravel())
            assert np.all(w % 2 == 0) and w.min() >= -256 and w.max() <= 254
    assert reference["layer/1/neuron/type"] == b"TERNARY" and reference["layer/2/neuron/vInit"].tolist() == [
        410, 819, 1229, 1638]


def test_export_shapes_without_any_forward():
    with pytest.raises(ValueError, match="shape unknown"):
        export(make_net(shapes=False))
    net = make_net(shapes=True)
    block.propagate_shapes(net)
    data = export(net)  # shapes known from Input(input_shape=...) through propagate_shapes
    assert data["layer/1/shape"].tolist() == [4, 8, 8] and data["layer/5/shape"].tolist() == [10]
    conv = block.Conv(params(), 3, 5, 3, stride=2, input_shape=(3, 9, 9))
    assert export([conv])["layer/0/shape"].tolist() == [5, 4, 4]


def test_weight_norm_block_exports_the_weight_it_uses():
    torch.manual_seed(7)
    with pytest.warns(FutureWarning):
        d = block.Dense(params(), 4, 3, weight_norm=True, weight_scale=3)
    with torch.no_grad():
        d.synapse.weight_g.mul_(0.5)
    x = torch.randint(-1, 2, (1, 4, 3)).float()
    d(x)
    assert np.array_equal(export([d])["layer/0/weight"], (q8(d.synapse.weight) * 64).reshape(3, 4).detach().numpy())


def test_net_with_amplitude_survives_deepcopy_and_pickle():
    import copy

    torch.manual_seed(8)
    net = torch.nn.ModuleList([block.Dense(params(), 4, 5, weight_scale=4),
                               block.Dense(params(), 5, 3, weight_scale=4, input_amplitude="layer")])
    set_amplitude(net[1], [0.3])
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    x = torch.randint(0, 3, (2, 4, 6)).float()
    for clone in (copy.deepcopy(net), torch.load(buf, weights_only=False)):
        assert torch.equal(clone[1](clone[0](x)), net[1](net[0](x)))


# ---------------------------------------------------------------- checkpoints of earlier versions
def old_layout(state_dict, moves):
    """An earlier version's state_dict: each consumer's input_amplitude stored on the producer's neuron."""
    old = dict(state_dict)
    for producer, consumer in moves.items():
        old[f"{producer}.neuron.amplitude"] = old.pop(f"{consumer}.input_amplitude")
    return old


def test_old_checkpoint_is_migrated_or_refused_with_one_message():
    torch.manual_seed(10)
    def make(**amp):
        return torch.nn.ModuleList([
            block.Conv(params(), 2, 4, 3, padding=1, weight_scale=4, input_shape=(2, 3, 3)), block.Flatten(),
            block.Dense(params(), 36, 5, weight_scale=4, **amp.get("dense", {})),
            block.Dense(params(), 5, 3, weight_scale=4, **amp.get("out", {}))])

    amps = {"dense": dict(input_amplitude="channel", amplitude_channels=4), "out": dict(input_amplitude="layer")}
    model = make(**amps)
    set_amplitude(model[2], torch.rand(4) + 0.5)
    set_amplitude(model[3], [0.6])
    old = old_layout(model.state_dict(), {"0": "2", "2": "3"})
    old["3.neuron.amplitude"] = torch.tensor([1.7])  # the last layer's amplitude only scaled the loss
    fresh = make(**amps)
    with pytest.raises(RuntimeError, match=r"'0.neuron.amplitude' = .*migrate_state_dict\(model, state_dict\)"):
        fresh.load_state_dict(old)
    fresh.load_state_dict(fold.migrate_state_dict(fresh, old))
    x = torch.randint(0, 3, (2, 2, 3, 3, 8)).float()
    y = forward(model, x)
    assert torch.equal(forward(fresh, x), y) and (y != 0).any()
    plain = torch.nn.ModuleList([block.Dense(params(), 5, 3)])
    plain.load_state_dict(dict(plain.state_dict(), **{"0.neuron.amplitude": torch.ones(1)}))  # a = 1 changes nothing: dropped
    without = make()
    with pytest.raises(ValueError, match="'2' receives them but was built without input_amplitude"):
        fold.migrate_state_dict(without, old)
