"""Hostile netx files: reading outside the file, bombs, crashes, hangs and wrapping values are one NetxFormatError.

Every file here is crafted by the test with h5py (or raw bytes). Each case goes through the real reader,
isolated in its child process (the default), and where it matters through ``lava_ternary.netx.Network``.
The byte-flip fuzz at the end counts its outcomes (cases, clear errors, loaded, bad) and checks that the
simulator equals Lava on a sample of the flipped files that load.
"""
import dataclasses
import os
import signal
import sys

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lava_ternary  # noqa: F401  (the Python 3.11 fix before lava)
from lava_ternary import safe_read
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import LIMITS, read_network

from fuzzing import data_spans, flip_bytes
from test_netfile import TERNARY, layer_group, write_net
from test_sim import assert_same_as_lava, conv, dense, write_net as write_sim_net

CUBA = dict(type="CUBA", iDecay=1024, vDecay=512, vThMant=40, refDelay=1, gradedSpike=False)


def fails(path, key=None, words=None, layer=None, **kwargs):
    """read_network(path) raises one NetxFormatError naming the file (and key/layer when given)."""
    with pytest.raises(NetxFormatError) as info:
        read_network(path, **kwargs)
    err = info.value
    assert str(path) in str(err)
    if key is not None:
        assert err.key == key, str(err)
    if layer is not None:
        assert err.layer == layer, str(err)
    if words is not None:
        assert words in str(err), str(err)
    return err


def dense_net(path, neuron=TERNARY, weight=None, bias=None, **extra):
    """input (4,) -> dense 3 with ``neuron``; the datasets of ``extra`` are added to the dense layer."""
    weight = np.full((3, 4), 2.0) if weight is None else weight
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        layer_group(root, 0, "input", [4])
        data = dict(extra, weight=weight)
        if bias is not None:
            data["bias"] = bias
        layer_group(root, 1, "dense", [3], neuron, **data)
    return path


def edited(path, edit):
    with h5py.File(path, "r+") as handle:
        edit(handle["layer"])
    return path


def replace(group, key, value):
    del group[key]
    group.create_dataset(key, data=value)


# ----------------------------------------------------------------------------- reading outside the file
def test_external_link_to_a_neighbour_file_is_refused(tmp_path):
    neighbour = write_net(tmp_path / "neighbour.net")
    path = write_net(tmp_path / "a.net", lambda root: (root["4"].__delitem__("weight"),
                                                        root["4"].__setitem__("weight", h5py.ExternalLink(
                                                            str(neighbour), "/layer/4/weight"))))
    fails(path, "weight", "external link", layer=4)
    # a whole layer group pointing elsewhere
    edited(path, lambda root: (root.__delitem__("3"), root.__setitem__("3", h5py.ExternalLink("/dev/zero", "/x"))))
    fails(path, None, "external link", layer=3)


def test_soft_links_dangling_or_looping_are_refused(tmp_path):
    path = write_net(tmp_path / "dangling.net", lambda root: root["1/neuron"].__setitem__(
        "vDecay", h5py.SoftLink("/nowhere")) if not root["1/neuron"].__delitem__("vDecay") else None)
    fails(path, "neuron/vDecay", "soft link", layer=1)
    with h5py.File(tmp_path / "loop.net", "w") as handle:
        root = handle.create_group("layer")
        root["0"] = h5py.SoftLink("/layer/1")
        root["1"] = h5py.SoftLink("/layer/0")
    fails(tmp_path / "loop.net", None, "soft link", layer=0)


def test_virtual_dataset_is_refused(tmp_path):
    neighbour = write_net(tmp_path / "neighbour.net")

    def edit(root):
        layout = h5py.VirtualLayout(shape=(5, 18), dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(neighbour), "layer/4/weight", shape=(5, 18))
        del root["4/weight"]
        root["4"].create_virtual_dataset("weight", layout)
    fails(write_net(tmp_path / "vds.net", edit), "weight", "virtual dataset", layer=4)


@pytest.mark.parametrize("target", ["/etc/passwd", "neighbour"])
def test_external_raw_storage_is_refused(tmp_path, target):
    if target == "neighbour":
        target = str(tmp_path / "neighbour.bin")
        np.full(90, 2.0, np.float32).tofile(target)

    def edit(root):
        del root["4/weight"]
        root["4"].create_dataset("weight", shape=(5, 18), dtype=np.float32, external=[(target, 0, 5 * 18 * 4)])
    fails(write_net(tmp_path / "ext.net", edit), "weight", "external files", layer=4)


def test_non_regular_files_are_refused_before_opening(tmp_path):
    fifo = tmp_path / "fifo.net"
    os.mkfifo(fifo)
    fails(fifo, None, "not a regular file")  # would block forever in open()
    link = tmp_path / "link.net"
    link.symlink_to(fifo)
    fails(link, None, "not a regular file")
    fails(tmp_path, None, "is a directory")
    fails("/dev/zero", None, "not a regular file")


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"), ("directory", "is a directory"), ("empty", "is empty"),
    ("text", "not an HDF5 file"), ("truncated", "net"), ("no_layer", "missing the 'layer' group"),
])
def test_file_level_problems_are_one_error_in_reader_and_network(tmp_path, case, words):
    from lava_ternary.netx import Network

    path = tmp_path / "net.net"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("not hdf5 at all")
    elif case == "truncated":
        raw = write_net(tmp_path / "ok.net").read_bytes()
        path.write_bytes(raw[: len(raw) // 3])
    elif case == "no_layer":
        with h5py.File(path, "w") as handle:
            handle.create_group("simulation")
    fails(path, None if case != "no_layer" else "layer", words)
    with pytest.raises(NetxFormatError, match=words):
        Network(net_config=str(path))


# ----------------------------------------------------------------------------- bombs
def test_gzip_bomb_is_refused_from_its_declared_size(tmp_path):
    count = LIMITS.max_dataset_elements + 1

    def edit(root):
        del root["4/weight"]
        dset = root["4"].create_dataset("weight", shape=(count,), dtype=np.uint8, compression="gzip",
                                        chunks=(1 << 22,))
        dset[:] = np.zeros(count, np.uint8)  # compresses to a few kB
    path = write_net(tmp_path / "gzip.net", edit)
    assert os.path.getsize(path) < 1 << 20
    fails(path, "weight", "declares", layer=4)


def test_fill_value_and_declared_dense_giants_are_refused(tmp_path):
    def edit(root):  # 10^5 x 10^5 float64 = 80 GB of fill value, a few kB on disk
        replace(root["4"], "shape", np.array([100000]))
        del root["4/weight"]
        root["4"].create_dataset("weight", shape=(100000, 100000), dtype=np.float64, fillvalue=2.0,
                                 chunks=(1000, 1000))
    fails(write_net(tmp_path / "fill.net", edit), "weight", "declares", layer=4)
    # many tiny chunks within the element limit
    with h5py.File(tmp_path / "chunks.net", "w") as handle:
        root = handle.create_group("layer")
        layer_group(root, 0, "input", [100])
        layer_group(root, 1, "dense", [1000], TERNARY)
        root["1"].create_dataset("weight", shape=(1000, 100), dtype=np.float32, chunks=(1, 1), fillvalue=0)
    fails(tmp_path / "chunks.net", "weight", "chunks", layer=1)


def test_the_total_declared_size_is_bounded(tmp_path):
    limits = dataclasses.replace(LIMITS, max_total_elements=100)
    fails(write_net(tmp_path / "ok.net"), "weight", "in all", limits=limits)


def test_shapes_whose_product_overflows_are_refused(tmp_path):
    path = write_net(tmp_path / "shape.net", lambda root: replace(root["3"], "shape", np.array([2 ** 31] * 3)))
    fails(path, "shape", "neurons, more than the limit", layer=3)
    path = write_net(tmp_path / "uint.net", lambda root: replace(root["3"], "shape",
                                                                  np.array([2 ** 64 - 1], dtype=np.uint64)))
    fails(path, "shape", "out of range", layer=3)


def test_layer_count_is_bounded(tmp_path):
    with h5py.File(tmp_path / "many.net", "w") as handle:
        root = handle.create_group("layer")
        for i in range(LIMITS.max_layers + 1):
            root.create_group(str(i))
    fails(tmp_path / "many.net", "layer", "more than the limit")


# ----------------------------------------------------------------------------- isolation
def test_a_crash_inside_the_parser_is_one_error(tmp_path, monkeypatch):
    """A segfault in libhdf5 cannot be crafted portably; fault injection kills the (forked) parser instead."""
    path = write_net(tmp_path / "ok.net")
    monkeypatch.setattr(safe_read, "extract", lambda *args: os.kill(os.getpid(), signal.SIGSEGV))
    fails(path, None, "killed by SIGSEGV")


def test_a_hanging_parser_times_out(tmp_path, monkeypatch):
    path = write_net(tmp_path / "ok.net")
    monkeypatch.setattr(safe_read, "extract", lambda *args: signal.pause())
    fails(path, None, "longer than 0.5 s", limits=dataclasses.replace(LIMITS, timeout_s=0.5))


def test_the_parser_memory_is_bounded(tmp_path, monkeypatch):
    """The parser may add only ``memory_bytes`` of address space (an injected 1 GiB request fails in the child)."""
    path = write_net(tmp_path / "ok.net")
    monkeypatch.setattr(safe_read, "extract", lambda *args: np.empty(1 << 30, np.uint8))
    fails(path, None, "more memory than allowed", limits=dataclasses.replace(LIMITS, memory_bytes=256 << 20))


def test_in_process_reading_gives_the_same_records(tmp_path):
    path = write_net(tmp_path / "ok.net")
    a, b = read_network(path), read_network(path, limits=dataclasses.replace(LIMITS, isolate=False))
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        assert (x.type, x.shape, x.input_shape) == (y.type, y.shape, y.input_shape)
        for key in ("weight", "bias"):
            assert np.array_equal(getattr(x, key), getattr(y, key)) or getattr(x, key) is getattr(y, key) is None


def test_limits_come_from_the_environment():
    limits = safe_read.Limits.from_env({"LAVA_TERNARY_NETX_MAX_LAYERS": "5000", "LAVA_TERNARY_NETX_ISOLATE": "0",
                                        "LAVA_TERNARY_NETX_TIMEOUT_S": "2.5"})
    assert (limits.max_layers, limits.isolate, limits.timeout_s) == (5000, False, 2.5)
    with pytest.raises(ValueError, match="LAVA_TERNARY_NETX_MAX_CHUNKS"):
        safe_read.Limits.from_env({"LAVA_TERNARY_NETX_MAX_CHUNKS": "many"})


# ----------------------------------------------------------------------------- ill-typed objects
def test_non_ascii_text_and_groups_instead_of_datasets(tmp_path):
    def text(root):
        del root["4/neuron/type"]
        root["4/neuron"].create_dataset("type", data="TERNÄRY", dtype=h5py.string_dtype("utf-8"))
    fails(write_net(tmp_path / "utf.net", text), "neuron/type", "ASCII", layer=4)

    def raw_bytes(root):
        del root["4/type"]
        root["4"].create_dataset("type", (1,), "S10", [b"\xff\xfe"])
    fails(write_net(tmp_path / "bytes.net", raw_bytes), "type", "ASCII", layer=4)
    for key in ("shape", "neuron/vThMant", "bias"):
        def group(root, key=key):
            if key in root["1"]:
                del root["1"][key]
            root["1"].create_group(key)
        fails(write_net(tmp_path / "group.net", group), key, "found a group", layer=1)
    fails(write_net(tmp_path / "neuron.net", lambda root: (root["1"].__delitem__("neuron"),
                                                           root["1"].create_dataset("neuron", data=1))),
          "neuron", "expected a group", layer=1)
    fails(write_net(tmp_path / "compound.net", lambda root: replace(
        root["1"], "stride", np.zeros(2, dtype=[("a", "i4"), ("b", "f4")]))), "stride", "dtype", layer=1)
    fails(write_net(tmp_path / "strings.net", lambda root: replace(root["1"], "stride", np.array([b"1", b"1"]))),
          "stride", "one string", layer=1)


@pytest.mark.parametrize("key, value, words", [
    ("stride", np.array([1.5, 1.0]), "integer values"),
    ("stride", np.array([0, 1]), "outside 1.."),
    ("padding", np.array([-1, 1]), "outside 0.."),
    ("dilation", np.array([np.nan, 1.0]), "integer values"),
    ("groups", np.int64(0), "outside 1..1"),
    ("stride", np.array([1, 1, 1]), "two values"),
])
def test_bad_geometry(tmp_path, key, value, words):
    fails(write_net(tmp_path / "geo.net", lambda root: replace(root["1"], key, value)), key, words, layer=1)


def test_float_geometry_holding_integers_reaches_lava_as_integers(tmp_path):
    from lava_ternary.netx import Network

    path = write_net(tmp_path / "geo.net", lambda root: [replace(root["1"], key, np.array([1.0, 1.0]))
                                                         for key in ("stride", "dilation")])
    assert read_network(path)[1].stride == (1, 1)
    net = Network(net_config=str(path), input_message_bits=6)
    assert net.spec[1].stride == (1, 1) and len(net.layers) == 3


@pytest.mark.parametrize("delay, words", [
    (np.full(5, -1.0), "outside 0..62"),
    (np.full(5, 63.0), "outside 0..62"),
    (np.full(5, 1.5), "integer values"),
    (np.zeros(7), "expected a scalar or shape"),
    (np.zeros((5, 17)), "expected a scalar or shape"),
])
def test_bad_delays(tmp_path, delay, words):
    fails(write_net(tmp_path / "delay.net", lambda root: root["4"].create_dataset("delay", data=delay)),
          "delay", words, layer=4)


# ----------------------------------------------------------------------------- values Lava or the simulator would wrap
STOCK_BAD = [
    ("CUBA", "vThMant", 0), ("CUBA", "vThMant", -5), ("CUBA", "iDecay", 5000), ("CUBA", "vDecay", -1),
    ("CUBA", "messageBits", 99), ("LOIHI", "vThMant", 1 << 18), ("LOIHI", "iDecay", -1),
    ("SDNN", "vThMant", -1), ("SDNN", "messageBits", 33), ("RF_PHASE", "sinDecay", 0),
    ("RF_IZHIKEVICH", "cosDecay", 5000), ("RF_PHASE", "vThMant", 0), ("CUBA", "vThMant", np.array([10, 20, 30])),
]


@pytest.mark.parametrize("kind, key, value", STOCK_BAD)
def test_stock_neuron_ranges(tmp_path, kind, key, value):
    neuron = dict(CUBA, type=kind) if "RF" not in kind else dict(type=kind, vThMant=40, sinDecay=300, cosDecay=3000)
    if kind == "SDNN":
        neuron = dict(type="SDNN", vThMant=4, activation="relu")
    fails(dense_net(tmp_path / "n.net", dict(neuron, **{key: value})), f"neuron/{key}", layer=1)


def test_every_stock_kind_loads_with_good_values(tmp_path):
    for kind, neuron in [("CUBA", CUBA), ("LOIHI", dict(CUBA, type="LOIHI", theta=5, wgtExp=0)),
                         ("SDNN", dict(type="SDNN", vThMant=0, activation="relu", sigma_output=True)),
                         ("Affine", dict(CUBA, vThMant=(1 << 18) - 1))]:  # slayer's Affine readout never fires
        spec = read_network(dense_net(tmp_path / f"{kind}.net", neuron, bias=np.array([4095, -4096, 0])))
        assert spec[1].neuron.type == neuron["type"] and spec[1].bias.tolist() == [4095, -4096, 0]
    fails(dense_net(tmp_path / "ALIF.net", dict(CUBA, type="ALIF")), "neuron/type", "unknown neuron type")


def test_complex_rf_layers_are_read_and_their_mismatches_refused(tmp_path):
    """slayer's rf/rf_iz export: weight/real and weight/imag with an RF neuron; netx drops bias and delay there."""
    rf = dict(type="RF_PHASE", vThMant=40, sinDecay=300, cosDecay=-3000)

    def complex_net(name, neuron=rf, imag=np.full((3, 4), -2.0), **extra):
        def edit(root):
            del root["1/weight"]
            root["1"].create_dataset("weight/real", data=np.full((3, 4), 2.0))
            if imag is not None:
                root["1"].create_dataset("weight/imag", data=imag)
            for key, value in extra.items():
                root["1"].create_dataset(key, data=value)
        return edited(dense_net(tmp_path / name, neuron), edit)

    spec = read_network(complex_net("rf.net"))
    assert spec[1].weight.tolist() == [[2] * 4] * 3 and spec[1].weight_imag.tolist() == [[-2] * 4] * 3
    fails(complex_net("bias.net", bias=np.zeros(3)), "bias", "netx ignores", layer=1)
    fails(complex_net("shape.net", imag=np.full((3, 2), 2.0)), "weight/imag", "inputs do not match", layer=1)
    fails(complex_net("noimag.net", imag=None), "weight/imag", "missing", layer=1)
    fails(complex_net("cuba.net", neuron=CUBA), "weight", "need an RF neuron group", layer=1)
    fails(dense_net(tmp_path / "plain.net", rf), "neuron/type", "needs complex weights", layer=1)


@pytest.mark.parametrize("key, value, words", [
    ("bias", np.full(3, 2.0 ** 40), "13-bit"),
    ("bias", np.array([4096, 0, 0]), "13-bit"),
    ("bias", np.array([-4097, 0, 0]), "13-bit"),
    ("weight", np.full((3, 4), 2 ** 64 - 1, dtype=np.uint64), "out of range"),
    ("weight", np.full((3, 4), 255.0), "8-bit"),
    ("weight", np.full((3, 4), 1e300), "out of range"),
    ("weight", np.zeros((3, 0)), "empty"),
])
@pytest.mark.parametrize("kind", ["TERNARY", "CUBA"])
def test_wrapping_values_are_refused_for_every_kind(tmp_path, key, value, words, kind):
    neuron = TERNARY if kind == "TERNARY" else CUBA
    path = dense_net(tmp_path / "n.net", neuron, **{key: value})
    fails(path, key, words, layer=1)


def test_input_transform_must_be_one_value(tmp_path):
    path = write_net(tmp_path / "in.net", lambda root: root["0"].create_dataset("bias", data=np.arange(3.0)))
    fails(path, "bias", "one value", layer=0)


# ----------------------------------------------------------------------------- byte-flip fuzz
FUZZ = {"cases": 0, "clear": 0, "loaded": 0, "bad": 0}
LOADED = []


@pytest.fixture(scope="module")
def fuzz_source(tmp_path_factory):
    """A network at the edges of what the reader accepts (13-bit biases per neuron of a conv, extreme decays and
    thresholds)."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("flip") / "source.net"
    edge_bias = np.where(rng.random(32) < 0.5, 4095, -4096)
    edge_bias[::3] = rng.integers(-50, 50, edge_bias[::3].size)
    layers = [dict(type="input", shape=[1, 4, 4]),
              conv((2, 4, 4), 1, rng, bias=edge_bias, neuron=dict(kind="CUBA", i_decay=0, v_decay=4096, vth=1, bits=0)),
              dict(type="flatten", shape=[32, 1, 1]),
              dense(4, 32, rng, scale=40, bias=np.array([4095, -4096, 0, 1]),
                    neuron=dict(vth=300, i_decay=4096, v_decay=0, bits=2)),
              dense(3, 4, rng, bias=np.array([-4096, 4095, 7]), neuron=dict(kind="CUBA", i_decay=4096, v_decay=4096,
                                                                              vth=2000, bits=0)),
              dense(2, 3, rng, neuron=dict(kind="CUBA", i_decay=2048, v_decay=0, vth=1, bits=0))]
    write_sim_net(path, layers)
    with h5py.File(path, "r+") as handle:  # int16 storage: many flips land on other valid values
        for name in ("1/weight", "1/bias", "3/weight", "3/bias", "4/weight", "4/bias", "5/weight"):
            group, key = handle["layer/" + name].parent, name.split("/")[1]
            replace(group, key, group[key][()].astype(np.int16))
    return path


@settings(max_examples=120, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_byte_flips_load_or_fail_cleanly(fuzz_source, tmp_path_factory, seed):
    """1-4 flipped bytes (anywhere, or inside a dataset's values) and sometimes a truncation, from one seed."""
    rng = np.random.default_rng(seed)
    raw = flip_bytes(open(fuzz_source, "rb").read(), data_spans(fuzz_source), rng)
    path = tmp_path_factory.mktemp("case") / "flipped.net"
    path.write_bytes(raw)
    FUZZ["cases"] += 1
    try:
        read_network(path)
    except NetxFormatError as err:
        FUZZ["clear"] += 1
        assert str(path) in str(err)
        return
    except BaseException:
        FUZZ["bad"] += 1
        raise
    FUZZ["loaded"] += 1
    LOADED.append(path)


def test_flipped_files_that_load_run_the_same_in_the_simulator_and_lava(fuzz_source):
    """The edge-value source and a loaded flipped file that differs from it: the simulator equals Lava."""
    assert FUZZ["cases"] >= 120 and FUZZ["bad"] == 0, FUZZ
    assert FUZZ["clear"] > 0 and FUZZ["loaded"] > 0, FUZZ
    print(f"\nbyte-flip fuzz: {FUZZ}", file=sys.stderr)
    source = read_network(fuzz_source)
    changed = [path for path in LOADED if any(
        not np.array_equal(a.weight, b.weight) or not np.array_equal(a.bias, b.bias)
        for a, b in zip(read_network(path), source))]
    print(f"loaded flipped files with changed weights or biases: {len(changed)}", file=sys.stderr)
    assert changed, "the fuzz should produce loadable files with different values"
    rng = np.random.default_rng(0)
    for path in [fuzz_source] + changed[:1]:
        assert assert_same_as_lava(path, rng.integers(-3, 4, (2, *read_network(path).input_shape, 3)), 6) > 0


# ----------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("case", ["fifo", "external_link", "bias"])
def test_cli_info_gives_one_line_for_hostile_files(tmp_path, capsys, case):
    from lava_ternary.cli import main

    path = tmp_path / "net.net"
    if case == "fifo":
        os.mkfifo(path)
    elif case == "external_link":
        write_net(path, lambda root: (root["4"].__delitem__("weight"),
                                      root["4"].__setitem__("weight", h5py.ExternalLink("/etc/passwd", "/x"))))
    else:
        dense_net(path, CUBA, bias=np.full(3, 2.0 ** 40))
    try:
        code = main(["info", str(path)])
    except SystemExit as stop:  # refused while parsing the arguments (a FIFO is not a regular file)
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "Traceback" not in err[0]


def test_bias_shapes_netx_cannot_broadcast_are_refused(tmp_path):
    fails(write_net(tmp_path / "conv.net", lambda root: replace(root["1"], "bias", np.zeros(71))), "bias",
          "per channel or per neuron", layer=1)
    fails(write_net(tmp_path / "conv.net", lambda root: replace(root["1"], "bias", np.zeros((6, 6, 2)))), "bias",
          "per channel or per neuron", layer=1)
    fails(dense_net(tmp_path / "dense.net", bias=np.zeros((3, 1))), "bias", "per neuron", layer=1)


def test_isolation_works_when_the_caller_ignores_sigchld(tmp_path):
    path = write_net(tmp_path / "ok.net")
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        assert len(read_network(path)) == 5
        (tmp_path / "text.net").write_text("not hdf5")
        fails(tmp_path / "text.net", None, "not an HDF5 file")
    finally:
        signal.signal(signal.SIGCHLD, previous)
