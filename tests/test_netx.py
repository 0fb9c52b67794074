"""lava_ternary.netx: stock files load as stock netx, pool layers build, bad files fail clearly, export is atomic."""
import h5py
import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401
from lava.lib.dl import netx as stock_netx
from lava.lib.dl import slayer
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source

from lava_ternary import block as tblock
from lava_ternary import parity
from lava_ternary.errors import NetxFormatError, RangeError
from lava_ternary.netx import Network, export_hdf5
from lava_ternary.proc import TernaryCUBA

P = dict(threshold=1.0, current_decay=0.5, voltage_decay=0.25)


def run_network(net, data):
    """Drive ``net.inp`` with ``data`` (Lava order, last axis time); return the output spikes."""
    steps = data.shape[-1]
    source, sink = Source(data=data), Sink(shape=net.out.shape, buffer=steps)
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(RunSteps(steps), Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get()
    finally:
        net.stop()


def test_stock_cuba_file_runs_identically_to_stock_netx(tmp_path):
    torch.manual_seed(1)
    params = {"threshold": 0.3, "current_decay": 0.5, "voltage_decay": 0.25}
    blocks = [slayer.block.cuba.Dense(params, 12, 16, weight_scale=4), slayer.block.cuba.Dense(params, 16, 5, weight_scale=4)]
    x = (torch.rand(1, 12, 30) > 0.6).float()
    y = x
    for b in blocks:
        y = b(y)
    path = tmp_path / "cuba.net"
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        for i, b in enumerate(blocks):
            b.export_hdf5(root.create_group(str(i)))
    ours, stock = Network(path, reset_interval=10), stock_netx.hdf5.Network(str(path), reset_interval=10)
    assert str(ours) == str(stock)
    assert [type(layer.neuron) for layer in ours.layers] == [type(layer.neuron) for layer in stock.layers]
    data = x[0].numpy().astype(np.int64)
    out_ours, out_stock = run_network(ours, data), run_network(stock, data)
    assert np.count_nonzero(out_stock) > 0
    np.testing.assert_array_equal(out_ours, out_stock)


def write_ternary_dense(path, weights):
    with h5py.File(path, "w") as handle:
        group = handle.create_group("layer/0")
        group.create_dataset("type", (1,), "S10", [b"dense"])
        group.create_dataset("shape", data=[weights.shape[0]])
        group.create_dataset("weight", data=weights.astype(np.float32))
        for key, value in dict(type="TERNARY", iDecay=4096, vDecay=0, vThMant=10, refDelay=1, resetMode="hard",
                               spikeMode="ternary", vInit=np.arange(weights.shape[0]) * 100 - 150,
                               messageBits=2, gradedSpike=False).items():
            group.create_dataset(f"neuron/{key}", data=value)


def test_all_zero_weights_build_and_run(tmp_path):
    """netx's optimize_weight_bits raises OverflowError on all-zero weights; the loader must not."""
    write_ternary_dense(tmp_path / "zero.net", np.zeros((3, 4)))
    net = Network(tmp_path / "zero.net", input_message_bits=2)
    assert isinstance(net.layers[0].neuron, TernaryCUBA) and net.output_message_bits == 2
    out = run_network(net, np.ones((4, 5), np.int64))
    np.testing.assert_array_equal(out, 0)
    assert net.spec[0].neuron.params["vInit"].tolist() == [-150, -50, 50]


def test_unknown_layer_and_neuron_types_are_rejected(tmp_path):
    write_ternary_dense(tmp_path / "bad.net", np.ones((3, 4)) * 2)
    with h5py.File(tmp_path / "bad.net", "a") as handle:
        group = handle.create_group("layer/1")
        group.create_dataset("type", (1,), "S10", [b"unpool"])
        group.create_dataset("shape", data=[3])
    with pytest.raises(NetxFormatError, match="unknown layer type 'unpool'") as info:
        Network(tmp_path / "bad.net")
    assert (info.value.layer, info.value.key) == (1, "type")


def test_pool_layer_builds_as_depthwise_conv_and_matches_torch(tmp_path):
    torch.manual_seed(2)
    net = torch.nn.Module()
    net.blocks = torch.nn.ModuleList([
        tblock.Conv(P, 1, 3, 3, padding=1, weight_scale=3, input_shape=(1, 6, 6)),
        tblock.Pool(P, 2, weight_scale=1, input_amplitude="layer"), tblock.Flatten(),
        tblock.Dense(P, 3 * 9, 4, weight_scale=4, input_amplitude="layer")])
    with torch.no_grad():
        net.blocks[1].input_amplitude.fill_(0.6)
    samples, steps = 20, 6
    x = torch.randint(0, 9, (samples, 1, 6, 6, 1)).float().repeat(1, 1, 1, 1, steps)
    path = tmp_path / "pool.net"
    spec = export_hdf5(net, path)
    assert [layer.type for layer in spec] == ["input", "conv", "pool", "flatten", "dense"]
    assert spec[2].weight.reshape(-1)[0] == 38  # the pool kernel 1.0 folded with amplitude 0.6: 0.6 * 64 -> 38
    reference = parity.torch_layer_outputs(net.blocks, x)
    run = parity.run_lava(path, x.numpy())
    result = parity.compare(run, reference)
    assert all(np.count_nonzero(r) > 0 for r in reference)
    assert result.mismatches == [0, 0, 0]


def test_export_is_atomic_and_needs_no_forward_after_load_state_dict(tmp_path):
    def make():
        return [tblock.Dense(P, 6, 5, weight_scale=3), tblock.Dense(P, 5, 2, weight_scale=3, input_amplitude="layer")]

    torch.manual_seed(0)
    trained = make()
    torch.nn.Sequential(*trained)(torch.rand(2, 6, 3) * 4)  # shapes known either way; forward only here
    state = torch.nn.ModuleList(trained).state_dict()
    fresh = torch.nn.ModuleList(make())
    fresh.load_state_dict(state)
    path = tmp_path / "net.net"
    export_hdf5(trained, path)
    first = path.read_bytes()
    export_hdf5(fresh, tmp_path / "fresh.net")
    a, b = h5py.File(path, "r"), h5py.File(tmp_path / "fresh.net", "r")
    with a, b:
        np.testing.assert_array_equal(a["layer/1/weight"][()], b["layer/1/weight"][()])
        assert a["layer/0/neuron/vThMant"][()] == b["layer/0/neuron/vThMant"][()] == 64

    class Broken(torch.nn.Module):
        def export_hdf5(self, handle):
            handle.create_dataset("type", (1,), "S10", [b"dense"])
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export_hdf5(list(fresh) + [Broken()], path)
    assert path.read_bytes() == first  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.net", "net.net"]  # no temp file left


def test_export_range_error_names_layer_and_value(tmp_path):
    blocks = [tblock.Dense(P, 4, 1100, weight_scale=1), tblock.Dense(P, 1100, 2, weight_scale=1)]
    with torch.no_grad():
        blocks[1].synapse.weight.fill_(3.9)  # 0.8 * 3.9 * 64 -> 199 per synapse; 1100 of them overflow 24 bits
    with pytest.raises(RangeError, match="layer 1: worst-case synaptic input"):
        export_hdf5(blocks, tmp_path / "overflow.net")
    assert not (tmp_path / "overflow.net").exists()


def test_run_loihi_exits_2_with_one_line_without_the_extension(tmp_path, capsys):
    from deploy import run_loihi

    write_ternary_dense(tmp_path / "x.net", np.zeros((3, 4)))
    assert run_loihi.main([str(tmp_path / "x.net")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Loihi 2 extension is not installed" in err[0]
