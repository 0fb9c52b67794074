"""lava_ternary.netfile: valid files become plain records; every bad key is one NetxFormatError naming file, layer, key."""
import h5py
import numpy as np
import pytest

import lava_ternary  # noqa: F401
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import read_network

from fuzzing import layer_group

TERNARY = dict(type="TERNARY", iDecay=1024, vDecay=512, vThMant=80, refDelay=1, resetMode="hard",
               spikeMode="ternary", vInit=0, amplitude=np.float32(0.7), messageBits=2, gradedSpike=False)


def write_net(path, edit=None):
    """input (1, 6, 6) -> conv 2@6x6 -> pool 2x2 -> flatten -> dense 5 (TERNARY); ``edit(root)`` corrupts it."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        layer_group(root, 0, "input", [1, 6, 6])
        layer_group(root, 1, "conv", [2, 6, 6], TERNARY, weight=(2 * rng.integers(-50, 50, (2, 1, 3, 3))).astype(np.float32),
                    inChannels=1, outChannels=2, kernelSize=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[1, 1],
                    groups=1, bias=np.array([3, -4]))
        layer_group(root, 2, "pool", [2, 3, 3], dict(TERNARY, vInit=np.array([10, -10])),
                    weight=np.full((1, 1, 2, 2), 40.0, np.float32), kernelSize=[2, 2], stride=[2, 2],
                    padding=[0, 0], dilation=[1, 1])
        layer_group(root, 3, "flatten", [18, 1, 1])
        layer_group(root, 4, "dense", [5], dict(TERNARY, spikeMode="binary", resetMode="soft", iDecay=np.arange(5)),
                    weight=(2 * rng.integers(-60, 60, (5, 18))).astype(np.float32), inFeatures=18, outFeatures=5)
        if edit is not None:
            edit(root)
    return path


def test_reads_layers_as_plain_records(tmp_path):
    spec = read_network(write_net(tmp_path / "ok.net"))
    assert [layer.type for layer in spec] == ["input", "conv", "pool", "flatten", "dense"]
    assert spec.input_shape == (1, 6, 6) and spec.output_shape == (5,)
    conv, pool, dense = spec[1], spec[2], spec[4]
    assert conv.weight.dtype == np.int64 and conv.weight.shape == (2, 1, 3, 3)
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.groups == 1
    assert conv.bias.tolist() == [3, -4] and conv.input_shape == (1, 6, 6)
    assert pool.groups == 2 and pool.stride == (2, 2) and pool.neuron.ternary.v_init.tolist() == [10, -10]
    assert dense.neuron.ternary.binary and dense.neuron.ternary.soft_reset and dense.neuron.message_bits == 2
    assert dense.neuron.params["iDecay"].tolist() == [0, 1, 2, 3, 4]
    assert dense.input_shape == (18, 1, 1) and dense.is_ternary and spec.is_ternary
    assert conv.neuron.params["amplitude"] == pytest.approx(0.7)


def _set(layer, key, value):
    def edit(root):
        del root[f"{layer}/{key}"]
        root[f"{layer}"].create_dataset(key, data=value)
    return edit


def _drop(layer, key):
    def edit(root):
        del root[f"{layer}/{key}"]
    return edit


@pytest.mark.parametrize("edit,layer,key,words", [
    (_drop(1, "neuron/vThMant"), 1, "neuron/vThMant", "missing"),
    (_set(1, "neuron/vThMant", 1 << 17), 1, "neuron/vThMant", "outside"),
    (_set(1, "neuron/iDecay", 5000), 1, "neuron/iDecay", "outside"),
    (_set(1, "neuron/resetMode", "never"), 1, "neuron/resetMode", "not one of"),
    (_set(1, "neuron/messageBits", 1), 1, "neuron/messageBits", "need >= 2"),
    (_set(1, "neuron/type", "ALIF"), 1, "neuron/type", "unknown neuron type"),
    (_set(2, "neuron/vInit", np.array([1, 2, 3])), 2, "neuron/vInit", "one per channel"),
    (_set(1, "weight", np.full((2, 1, 3, 3), 0.5)), 1, "weight", "integer values"),
    (_set(1, "weight", np.full((2, 1, 3, 3), 300.0)), 1, "weight", "8-bit"),
    (_set(1, "weight", np.zeros((3, 1, 3, 3))), 1, "weight", "output channels"),
    (_set(1, "shape", np.array([2, 5, 5])), 1, "shape", "expected output"),
    (_set(2, "weight", np.arange(4.0).reshape(1, 1, 2, 2)), 2, "weight", "one value"),
    (_set(3, "shape", np.array([17, 1, 1])), 3, "shape", "flatten"),
    (_set(4, "weight", np.zeros((5, 17))), 4, "weight", "previous output"),
    (_set(4, "inFeatures", 17), 4, "inFeatures", "does not match"),
    (_set(4, "type", "dense_comp"), 4, "type", "unknown layer type"),
    (_set(4, "type", b"lstm"), 4, "type", "unknown layer type"),
    (_drop(0, "shape"), 0, "shape", "missing"),
])
def test_bad_files_name_file_layer_and_key(tmp_path, edit, layer, key, words):
    path = write_net(tmp_path / "bad.net", edit)
    with pytest.raises(NetxFormatError, match=words) as info:
        read_network(path)
    assert (info.value.layer, info.value.key) == (layer, key)
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)


def test_file_level_problems(tmp_path):
    with pytest.raises(NetxFormatError, match="no such file"):
        read_network(tmp_path / "missing.net")
    (tmp_path / "text.net").write_text("not hdf5")
    with pytest.raises(NetxFormatError, match="not an HDF5 file"):
        read_network(tmp_path / "text.net")
    with h5py.File(tmp_path / "gap.net", "w") as handle:
        root = handle.create_group("layer")
        layer_group(root, 0, "input", [4])
        layer_group(root, 2, "input", [4])
    with pytest.raises(NetxFormatError, match="named 0..1") as info:
        read_network(tmp_path / "gap.net")
    assert info.value.key == "layer"
    with h5py.File(tmp_path / "conv_first.net", "w") as handle:
        layer_group(handle.create_group("layer"), 0, "conv", [1, 2, 2], TERNARY, weight=np.zeros((1, 1, 1, 1)),
                    stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
    with pytest.raises(NetxFormatError, match="input shape is unknown"):
        read_network(tmp_path / "conv_first.net")
    assert read_network(tmp_path / "conv_first.net", input_shape=(1, 2, 2))[0].shape == (1, 2, 2)


def test_reads_stock_slayer_cuba_export(tmp_path):
    """A file written by lava-dl's own CUBA blocks reads unchanged (stock neuron group passed through)."""
    import torch
    from lava.lib.dl import slayer

    params = {"threshold": 0.5, "current_decay": 0.5, "voltage_decay": 0.5}
    blocks = [slayer.block.cuba.Dense(params, 10, 6), slayer.block.cuba.Dense(params, 6, 3)]
    x = torch.zeros(1, 10, 4)
    for block in blocks:
        x = block(x)
    with h5py.File(tmp_path / "cuba.net", "w") as handle:
        root = handle.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(root.create_group(str(i)))
    spec = read_network(tmp_path / "cuba.net")
    assert [layer.neuron.type for layer in spec] == ["CUBA", "CUBA"]
    assert spec[0].weight.shape == (6, 10) and spec.input_shape == (10,) and not spec.is_ternary
    assert spec[1].neuron.params["vThMant"] == 32


def test_reads_every_network_shipped_with_lava_dl():
    """The range checks accept lava-dl's own test networks (CUBA, LOIHI with delays, SDNN with sigma output)."""
    from pathlib import Path

    import lava.lib.dl.netx as netx_pkg

    site = Path(netx_pkg.__file__).parents[4]
    files = sorted((site / "tests" / "lava" / "lib" / "dl" / "netx").rglob("*.net"))
    if not files:
        pytest.skip("lava-dl's test networks are not installed")
    kinds = set()
    for path in files:
        spec = read_network(path)
        kinds |= {layer.neuron.type for layer in spec if layer.neuron is not None}
    assert {"CUBA", "LOIHI", "SDNN"} <= kinds
