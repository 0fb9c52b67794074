"""Report: counts against hand computations and brute force, the paper's Table 5, the Loihi fit, outputs."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from test_sim import conv, dense, write_net

from lava_ternary import hardware, readout, report, sim
from lava_ternary.netfile import read_network


def _tiny(tmp_path):
    return write_net(tmp_path / "tiny.net", [dict(type="dense", shape=[1], weight=[[10]],
                                                  neuron=dict(vth=8, i_decay=4096, v_decay=0))])


def test_hand_computed_counts_and_energy(tmp_path):
    # the hand sequence of test_sim: spikes [0, 1, 1, -1, -1, -1] from ternary input [1, 1, -1, -1, -1, 0]
    rep = report.analyze(_tiny(tmp_path), np.array([[[1, 1, -1, -1, -1, 0]]]), input_message_bits=2)
    (row,) = rep.layers
    assert (row.neurons, row.synapses, row.fan_in) == (1, 1, 1)
    assert (row.pos_rate, row.neg_rate, row.sparsity) == pytest.approx((2 / 6, 3 / 6, 5 / 6))
    assert (row.input_events, row.sops, row.macs, row.spikes) == (5, 5, 0, 5)  # spike input: no MACs
    paper, horowitz = rep.energy["paper"], rep.energy["horowitz45"]
    assert paper["total_j"] == pytest.approx(5 * 77e-15 + 5 * 3.7e-12)
    assert horowitz["total_j"] == pytest.approx(5 * 0.9e-12)
    assert not rep.direct_input


def test_direct_input_counts_first_layer_macs(tmp_path):
    rng = np.random.default_rng(0)
    path = write_net(tmp_path / "d.net", [dense(6, 4, rng, neuron=dict(vth=30)), dense(3, 6, rng, neuron={})])
    x = np.zeros((2, 4, 5), np.int64)
    x[:, :, :3] = rng.integers(1, 17, (2, 4, 3))  # three input steps, then silence
    rep = report.analyze(path, x, input_message_bits=6)
    first, second = rep.layers
    assert rep.direct_input and first.macs == 24 * 3 and first.sops == 0
    spikes = sim.simulate(sim.compile_network(path), x, input_message_bits=6).spikes[0]
    assert second.sops == pytest.approx(np.count_nonzero(spikes) * 3 / 2)  # every spike reaches 3 synapses
    assert rep.energy["paper"]["mac_j"] == pytest.approx(72 * 12.5e-12)


def test_conv_synapses_and_fan_in_against_brute_force(tmp_path):
    rng = np.random.default_rng(1)
    layer = conv((4, 3, 3), 2, rng, kernel=(3, 2), stride=(2, 3), padding=(1, 1), groups=2, neuron={})
    path = write_net(tmp_path / "c.net", [dict(type="input", shape=[2, 5, 6]), layer])
    compiled = sim.compile_network(path)
    connections = 0
    for oc in range(4):
        for oh in range(3):
            for ow in range(3):
                for kh in range(3):
                    for kw in range(2):
                        h, w = oh * 2 - 1 + kh, ow * 3 - 1 + kw
                        connections += (0 <= h < 5 and 0 <= w < 6)  # one input channel per group
    rep = report.analyze(compiled, np.ones((1, 2, 5, 6, 2), np.int64), input_message_bits=2)
    assert rep.layers[0].synapses == connections
    assert rep.layers[0].fan_in == 1 * 3 * 2
    assert np.count_nonzero(compiled[-1].matrix) <= connections


def test_paper_table5_reproduced_by_the_convention():
    """The paper's counts priced by the paper's convention give its energies (50.14 / 51.20 uJ, +2.11 %)."""
    def fake(flops, sops, signs):
        row = report.LayerReport(index=0, kind="conv", neuron="TERNARY", shape=[1], neurons=1, synapses=1, fan_in=1,
                                 pos_rate=0, neg_rate=0, sparsity=0, spikes=signs, input_events=0, sops=sops,
                                 macs=flops)
        return report.Report(network="paper", samples=1, timesteps=2, direct_input=True, layers=[row])
    rows = report.compare(fake(3.54e6, 71.20e6, 0.11e6), fake(3.54e6, 79.21e6, 0.23e6))
    assert rows["binary"]["energy_j"] == pytest.approx(50.14e-6, abs=0.01e-6)
    assert rows["ternary"]["energy_j"] == pytest.approx(51.20e-6, abs=0.01e-6)
    assert rows["ternary"]["extra_energy_pct"] == pytest.approx(2.11, abs=0.02)
    assert "Ternary Spike" in report.format_comparison(rows)


def test_loihi_fit_names_the_binding_constraint(tmp_path):
    rng = np.random.default_rng(2)
    path = write_net(tmp_path / "f.net", [dense(40, 30, rng, neuron={}), dense(5, 40, rng, neuron={})])
    x = rng.integers(-1, 2, (2, 30, 3))
    few_neurons = hardware.override(hardware.LOIHI2, {"neurons_per_core": 8})
    rep = report.analyze(path, x, input_message_bits=2, chip=few_neurons)
    assert [l.cores for l in rep.layers] == [5, 1]
    assert rep.loihi["cores"] == 6 and rep.loihi["binding_layer"] == 0 and rep.loihi["binding_resource"] == "neurons"
    small_memory = hardware.override(hardware.LOIHI2, {"synaptic_memory_bits": 8 * 100})
    rep = report.analyze(path, x, input_message_bits=2, chip=small_memory)
    assert rep.layers[0].cores == 12 and rep.layers[0].binding == "synaptic memory"  # 1200 weights / 100 per core
    narrow = hardware.override(hardware.LOIHI2, {"input_axons_per_core": 35, "cores_per_chip": 2})
    rep = report.analyze(path, x, input_message_bits=2, chip=narrow)
    assert rep.loihi["unfit_layers"] == [1] and rep.layers[1].binding == "fan-in"  # 40 inputs > 35 axons
    assert rep.loihi["binding_layer"] == 1
    assert "exceed the fan-in limit" in report.format_table(rep)


def test_outputs_json_png_and_table(tmp_path):
    rng = np.random.default_rng(3)
    path = write_net(tmp_path / "o.net", [dense(7, 5, rng, neuron={}), dense(3, 7, rng, neuron=dict(mode="binary"))])
    x = rng.integers(0, 9, (4, 5, 4))
    rep = report.analyze(path, x, input_message_bits=5, labels=np.array([0, 1, 2, 0]))
    assert 0.0 <= rep.accuracy <= 1.0
    (tmp_path / "out").mkdir()
    target = report.write_json_report(rep, tmp_path / "out" / "r.json", comparison={"note": 1})
    data = json.loads(target.read_text())
    assert data["totals"]["neurons"] == 10 and data["comparison"] == {"note": 1}
    assert set(data["energy"]) == {"paper", "horowitz45"} and data["loihi"]["chip"] == "loihi2"
    png = report.plot(rep, tmp_path / "out" / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = report.format_table(rep)
    assert "TERNARY binary" in table and "energy [paper]" in table and "loihi2 fit" in table


def test_network_table_has_the_netx_layout(tmp_path):
    rng = np.random.default_rng(4)
    path = write_net(tmp_path / "t.net", [dict(type="input", shape=[2, 5, 6]),
                                          conv((4, 3, 3), 2, rng, kernel=(3, 2), stride=(2, 3), neuron={}),
                                          dict(type="flatten", shape=[36, 1, 1]),
                                          dense(3, 36, rng, neuron=dict(kind="CUBA", bits=0))])
    lines = report.network_table(read_network(path)).splitlines()
    assert lines[0].startswith("|   Type   |  W  |  H  |  C  | ker | str | pad | dil | grp |delay|")
    assert lines[2].startswith("|Conv      |    3|    3|    4| 2, 3| 3, 2| 1, 1| 1, 1|    1|False|")
    assert "CUBA" in lines[4] and len(lines) == 5


def test_constant_overrides_are_checked():
    assert hardware.override(hardware.PAPER, {"sop_j": "1e-13"}).sop_j == 1e-13
    assert hardware.override(hardware.LOIHI2, {"conv_weight_sharing": "true"}).conv_weight_sharing
    with pytest.raises(ValueError, match="unknown EnergyConvention field 'sops'"):
        hardware.override(hardware.PAPER, {"sops": 1})
    with pytest.raises(ValueError, match="neurons_per_core"):
        hardware.override(hardware.LOIHI2, {"neurons_per_core": "many"})
    assert dataclasses.asdict(hardware.LOIHI2)["source"]


def test_accuracy_uses_the_one_readout_with_skip_and_population(tmp_path):
    rng = np.random.default_rng(5)
    path = write_net(tmp_path / "p.net", [dense(7, 5, rng, neuron={}), dense(4, 7, rng, neuron={})])
    x = rng.integers(0, 9, (6, 5, 5))
    result = report.sim.simulate(report.sim.compile_network(path), x, input_message_bits=5)
    expected = readout.predictions(result.output, 2, 2)  # 4 output neurons: 2 classes of 2
    rep = report.analyze(path, x, input_message_bits=5, labels=expected, skip=2, population=2, result=result)
    assert rep.accuracy == 1.0
    out = result.output.astype(np.int64)[..., 2:].sum(-1).reshape(6, 2, 2).sum(-1)
    assert np.array_equal(expected, out.argmax(1))
    import torch

    assert np.array_equal(readout.class_scores(torch.from_numpy(result.output.astype(np.float32)), 2, 2).numpy(), out)


def test_report_of_lava_dls_files_counts_what_runs_on_chip():
    """ntidigits' average readout is not a chip layer; mnist's neuron-less readout never sends (its voltage is
    recorded, not counted as spikes)."""
    from lavadl_zoo import lavadl_tests

    rng = np.random.default_rng(0)
    rep = report.analyze(lavadl_tests() / "gts/ntidigits/ntidigits.net", rng.integers(0, 2, (2, 1, 1, 64, 12)))
    assert [row.index for row in rep.layers] == [2, 3, 4] and rep.totals["neurons"] == 256 + 256 + 242
    x = np.zeros((2, 784, 6), np.int64)
    x[..., 1:] = 40  # enough for the input neurons to fire
    rep = report.analyze(lavadl_tests() / "mnist.net", x, input_message_bits=6)
    assert rep.layers[-1].neuron == "integrator" and rep.layers[-1].spikes == 0
    assert rep.layers[0].spikes > 0 and rep.layers[-1].input_events > 0
