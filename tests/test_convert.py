"""ANN-to-SNN conversion: stage parsing, hooked activation sampling, the built IF network, calibration, export."""
import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401  (installs the lava import fix before lava is imported)
from lava_ternary import block as tblock
from lava_ternary.convert.activations import collect_activations, parse_ann
from lava_ternary.convert.build import ann_parameters, build_snn
from lava_ternary.convert.calibrate import calibrate, repeat_steps, scores
from lava_ternary.convert.plans import plan_thresholds, spike_mode_of

nn = torch.nn


def small_ann(bias: bool = True) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=bias), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, padding=1, bias=bias), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Dropout(0.1), nn.Linear(6 * 16, 16, bias=bias), nn.ReLU(), nn.Linear(16, 10, bias=bias))


@pytest.fixture(scope="module")
def digits():
    from training.data import load_split
    tr, te = load_split("digits", "train", 1), load_split("digits", "test", 1)
    return tr.images[:600], tr.labels[:600], te.images[:120], te.labels[:120]


@pytest.fixture(scope="module")
def trained(digits):
    torch.manual_seed(0)
    ann = small_ann()
    x, y = digits[0].float() / 16, digits[1]
    opt = torch.optim.Adam(ann.parameters(), 3e-3)
    for _ in range(15):
        for i in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(ann(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    ann.eval()
    acts = collect_activations(ann, [x[i:i + 200] for i in range(0, len(x), 200)])
    return ann, parse_ann(ann), acts


def test_parse_stages_and_errors():
    kinds = [s.kind for s in parse_ann(small_ann())]
    assert kinds == ["conv", "conv", "pool", "flatten", "dense", "readout"]
    with pytest.raises(ValueError, match="'1'.*Sigmoid"):
        parse_ann(nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="readout"):
        parse_ann(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    with pytest.raises(ValueError, match="BatchNorm"):
        parse_ann(nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)))


def test_non_sequential_model_is_rejected():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.r, self.b = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(self.r(self.a(x)) + x)

    with pytest.raises(ValueError, match="registration order"):
        collect_activations(Skip(), [torch.rand(8, 4)])


def test_activation_sample_is_bounded_and_consistent(trained, digits):
    ann, stages, _ = trained
    x = digits[0].float() / 16
    acts = collect_activations(ann, [x[i:i + 100] for i in range(0, len(x), 100)], max_values=4096, seed=1)
    assert [a.post.shape[1] for a in acts] == [4, 6, 6, 16]
    assert all(a.post.size <= 4096 for a in acts)
    assert acts[0].seen == len(x) * 64
    np.testing.assert_array_equal(acts[0].post, np.maximum(acts[0].pre, 0))  # pre-activation of the in-place ReLU
    with torch.no_grad():
        first = torch.relu(ann[1](ann[0](x)))
    np.testing.assert_allclose(acts[0].max, first.amax(dim=(0, 2, 3)).numpy(), rtol=1e-6)


def test_first_block_spike_counts_follow_the_if_model(trained, digits):
    """Constant graded input: block 0 (no leak, soft reset, v_init) fires clip(floor((T z + v0)/theta), 0, T)."""
    ann, stages, acts = trained
    T = 5
    plans = plan_thresholds(stages, acts, T, "exact")
    net = build_snn(stages, ann_parameters(stages), plans, (1, 8, 8), 1 / 16)
    blk = net.blocks[0]
    x = repeat_steps(digits[2][:20], T)
    with torch.no_grad():
        counts = (blk(x) != 0).sum(-1).numpy()
        z = (blk.synapse(x[..., :1])[..., 0] + blk.quantized_bias()[None, :, None, None]).double().numpy()
    theta = blk.neuron.threshold
    v0 = blk.neuron.v_init.double().numpy()
    expected = np.clip(np.floor((T * z + v0) / theta), 0, T)
    assert theta == pytest.approx(float(np.floor(theta * 64)) / 64)
    assert v0[0] == pytest.approx(theta / 2, abs=1 / 4096)
    ties = np.isclose((T * z + v0) / theta, np.round((T * z + v0) / theta))
    # delay_shift: the block emits its first T - 1 steps' spikes inside the window; count all T + 1 steps
    with torch.no_grad():
        counts = (blk(torch.nn.functional.pad(x, (0, 1))) != 0).sum(-1).numpy()
    assert np.array_equal(counts[~ties], expected[~ties])


def test_conversion_tracks_the_ann(trained, digits):
    ann, stages, acts = trained
    x_te, y_te = digits[2], digits[3]
    with torch.no_grad():
        ann_pred = ann(x_te.float() / 16).argmax(1)
    params = ann_parameters(stages)
    agree = {}
    for method in ("max", "exact", "exact-channel", "paper"):
        plans = plan_thresholds(stages, acts, 32, method)
        net = build_snn(stages, params, plans, (1, 8, 8), 1 / 16, spike_mode_of(method))
        with torch.no_grad():
            agree[method] = (scores(net, x_te, 32).argmax(1) == ann_pred).float().mean().item()
    assert agree["exact"] >= 0.9 and agree["exact-channel"] >= 0.9 and agree["paper"] >= 0.9
    low = build_snn(stages, params, plan_thresholds(stages, acts, 1, "exact"), (1, 8, 8), 1 / 16)
    base = build_snn(stages, params, plan_thresholds(stages, acts, 1, "max"), (1, 8, 8), 1 / 16)
    with torch.no_grad():
        acc_exact = (scores(low, x_te, 1).argmax(1) == y_te).float().mean().item()
        acc_max = (scores(base, x_te, 1).argmax(1) == y_te).float().mean().item()
    assert acc_exact > acc_max + 0.3


def test_built_network_structure_and_parameter_roundtrip(trained):
    ann, stages, acts = trained
    params = ann_parameters(stages)
    plans = plan_thresholds(stages, acts, 4, "exact-channel")
    assert plans[0].theta.shape == (4,) and plans[1].theta.ndim == 0  # stage 1 feeds the pool: one threshold
    net = build_snn(stages, params, plans, (1, 8, 8), 1 / 16)
    assert [type(b) for b in net.blocks] == [tblock.Conv, tblock.Conv, tblock.Pool, tblock.Flatten, tblock.Dense,
                                             tblock.Affine]
    for blk in net.blocks:
        if hasattr(blk, "neuron") and blk.neuron is not None and not isinstance(blk, tblock.Affine):
            dev = blk.neuron.device_params
            assert str(np.asarray(dev["resetMode"])) == "soft"
            assert int(dev["iDecay"]) == 4096 and int(dev["vDecay"]) == 0
            assert 1 <= int(dev["vThMant"]) <= 2**17 - 1
    back = net.ann_parameters()
    for p, q in zip(params, back):
        if p is not None:
            np.testing.assert_allclose(q[0], p[0], rtol=1e-5, atol=1e-12)
            np.testing.assert_allclose(q[1], p[1], rtol=1e-5, atol=1e-12)


def test_signed_builds_ternary_neurons(trained):
    ann, stages, acts = trained
    net = build_snn(stages, ann_parameters(stages), plan_thresholds(stages, acts, 2, "signed"), (1, 8, 8), 1 / 16,
                    spike_mode_of("signed"))
    assert net.blocks[0].neuron.spike_mode == "ternary"


def test_calibration_carries_weights_and_trains(trained, digits):
    ann, stages, acts = trained
    x, y = digits[0][:128], digits[1][:128]
    params = ann_parameters(stages)
    nets = dict(calibrate(stages, params, acts, (1, 8, 8), 1 / 16, "exact", x, y, timesteps=(1, 2),
                          epochs=(1, 1), progress=False))
    assert set(nets) == {1, 2}
    w1 = nets[1].ann_parameters()[0][0]
    assert not np.allclose(w1, params[0][0])
    with torch.no_grad():
        loss = nn.functional.cross_entropy(scores(nets[2], x, 2), y).item()
    assert np.isfinite(loss)


def test_export_hdf5(trained, tmp_path):
    from lava_ternary.netx import export_hdf5
    ann, stages, acts = trained
    net = build_snn(stages, ann_parameters(stages), plan_thresholds(stages, acts, 4, "exact"), (1, 8, 8), 1 / 16)
    spec = export_hdf5(net, tmp_path / "converted.net")
    assert len(spec.layers) >= len(net.blocks)


@pytest.mark.parametrize("method", ["exact", "signed"])
def test_converted_network_is_bit_exact_on_lava(trained, digits, tmp_path, method):
    """Every spiking layer of a converted network (IF, soft reset, v_init, bias) runs spike for spike on Lava.

    The Affine readout never spikes on either side (its voltage is the readout), so it is left out.
    """
    from lava_ternary import parity
    from lava_ternary.netx import export_hdf5

    ann, stages, acts = trained
    T = 4
    net = build_snn(stages, ann_parameters(stages), plan_thresholds(stages, acts, T, method), (1, 8, 8), 1 / 16,
                    spike_mode_of(method))
    net.eval()
    export_hdf5(net, tmp_path / "converted.net")
    x = torch.nn.functional.pad(repeat_steps(digits[2][:20], T), (0, net.latency))
    reference = parity.torch_layer_outputs(net.blocks, x)
    run = parity.run_lava(tmp_path / "converted.net", x.numpy().astype(np.int64))
    spiking = len(run.layers) - 1
    for lava_spikes, torch_spikes in zip(run.layers[:spiking], reference[:spiking]):
        assert np.count_nonzero(torch_spikes) > 0
        np.testing.assert_array_equal(lava_spikes, torch_spikes.reshape(lava_spikes.shape))
    assert not run.layers[-1].any()


def test_conversion_script_on_mnist5k_end_to_end(tmp_path):
    """``--config mnist5k`` shrunk (300 training and 50 test images, one ANN epoch): the result files keep the
    schema of results/conversion.json, with calibrated rows up to T = 8."""
    import json

    from training import convert_digits
    assert convert_digits.main(["--config", "mnist5k", "--seeds", "0", "--timesteps", "1", "8",
                                "--methods", "exact", "signed", "--calib-timesteps", "1", "8",
                                "--calib-epochs", "1", "1", "--calib-samples", "100", "--ann-epochs", "1",
                                "--train-limit", "300", "--test-limit", "50", "--quiet", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "conversion_mnist5k.json").read_text())
    assert result["config"] == "mnist5k" and result["seeds"] == [0] and len(result["ann_accuracy_per_seed"]) == 1
    rows = {(r["method"], r["timesteps"], r["calibrated"]) for r in result["runs"]}
    assert rows == {("exact", 1, False), ("exact", 8, False), ("signed", 1, False), ("signed", 8, False),
                    ("exact", 1, True), ("exact", 8, True)}
    assert all(0 <= r["accuracy"] <= 1 and r["seed"] == 0 for r in result["runs"])
    assert result["ann_accuracy"] > 0.2  # one epoch on 300 real MNIST images is well above chance
    md = (tmp_path / "conversion_mnist5k.md").read_text()
    assert md.startswith("# ANN-to-SNN conversion, mnist5k") and "| exact + calibration |" in md
    for name in ("conversion_activations_mnist5k.png", "conversion_c1_mnist5k.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_conversion_script_bad_dataset_is_one_line(tmp_path, capsys):
    from training import convert_digits
    bad = tmp_path / "mine.npz"
    np.savez(bad, x=np.zeros((8, 4, 4)), y=np.arange(7))
    with pytest.raises(SystemExit) as stop:
        convert_digits.main(["--dataset", f"npz:{bad}", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and "8 samples but 'y' has 7" in err[0]
    assert not list(tmp_path.glob("conversion*"))
