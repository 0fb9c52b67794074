"""lava-dl's own netx files and tests (shipped in its wheel), against our ``Network`` and the fast simulator.

(a) lava-dl's ``test_hdf5.py``, unchanged, with :class:`lava_ternary.netx.Network` in place of
    ``netx.hdf5.Network``: the module is copied next to links to lava-dl's data (so the recurrent test
    writes its file into a temporary folder, not into site-packages) and its ``netx`` name is given a
    namespace whose ``hdf5.Network`` builds ours; each of its tests runs through ``unittest`` and must
    pass on its own ground truth. Its ntidigits test (3000 steps, minutes of Lava) is replaced by our Network
    against stock netx, layer by layer, on the first steps of the same stream.
(b) every network of ``tests/lavadl_zoo.py`` through the simulator against stock Lava
    (:func:`lava_ternary.sim.reference.run_lava`, ``network='stock'``) on the same short batch:
    0 mismatches in every layer (a layer without a neuron group, mnist's readout, by its voltage).
The long runs are in ``benchmarks/netx_zoo.py``.
"""
import lava_ternary  # noqa: F401  (lava import fix first)

import importlib.util
import shutil
import types
import unittest

import numpy as np
import pytest

from lava_ternary import sim
from lava_ternary.sim.reference import compare, run_lava
from lavadl_zoo import ZOO, lavadl_tests

LAVADL_TESTS = ["test_axonal_delay_ntidigits", "test_input_transform", "test_mnist", "test_num_layers",
                "test_pilotnet_sdnn", "test_pilotnet_sdnn_spike_exp", "test_recurrent_netx_save_and_load",
                "test_sparse_axonal_delay_ntidigits", "test_sparse_pilotnet_sdnn", "test_tinynet"]
LONG = {"test_axonal_delay_ntidigits": "3000 Lava steps (minutes): see test_ntidigits_our_network_equals_stock"}
@pytest.fixture(scope="module")
def lavadl_module(tmp_path_factory):
    """lava-dl's ``test_hdf5`` module, loaded from a copy, whose ``netx.hdf5.Network`` builds ours."""
    from lava.lib.dl import netx

    from lava_ternary.netx import Network

    source = lavadl_tests()
    if not (source / "test_hdf5.py").exists():
        pytest.skip("lava-dl's netx tests are not installed")
    folder = tmp_path_factory.mktemp("lavadl_netx")
    shutil.copy(source / "test_hdf5.py", folder / "test_hdf5.py")
    for name in ("tiny.net", "mnist.net", "gts"):
        (folder / name).symlink_to(source / name)
    spec = importlib.util.spec_from_file_location("lavadl_test_hdf5", folder / "test_hdf5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = []

    def network(*args, **kwargs):
        net = Network(*args, **kwargs)
        built.append(type(net))
        return net

    module.netx = types.SimpleNamespace(hdf5=types.SimpleNamespace(Network=network), blocks=netx.blocks)
    module.built = built
    return module


@pytest.fixture(scope="module")
def zoo_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


def test_lavadl_suite_is_the_one_we_run(lavadl_module):
    names = unittest.TestLoader().getTestCaseNames(lavadl_module.TestHdf5Netx)
    assert sorted(names) == LAVADL_TESTS


@pytest.mark.parametrize("name", [n for n in LAVADL_TESTS if n not in LONG])
def test_lavadl_test_hdf5_passes_with_our_network(lavadl_module, name):
    from lava_ternary.netx import Network

    before = len(lavadl_module.built)
    result = unittest.TestResult()
    lavadl_module.TestHdf5Netx(name).run(result)
    problems = [text for _, text in result.errors + result.failures]
    assert result.testsRun == 1 and not problems and not result.skipped, "\n".join(problems)
    assert len(lavadl_module.built) > before and set(lavadl_module.built[before:]) == {Network}


def test_ntidigits_our_network_equals_stock(zoo_folder):
    """lava-dl's axonal-delay network (average readout left out, as its test does) on 40 steps of its
    stream: the stand-in for lava-dl's 3000-step test."""
    entry = ZOO["ntidigits"]
    path = entry.file(zoo_folder)
    x = entry.inputs(1, 40)
    stock = run_lava(path, x, input_message_bits=0, layers=[], network="stock")
    ours = run_lava(path, x, input_message_bits=0, layers=[], network="ours")
    matches = compare(ours, stock)
    assert [m.index for m in matches] == [2, 3, 4] == stock.layer_index
    assert all(m.mismatches == 0 for m in matches), matches
    assert all(m.nonzero > 0 for m in matches), matches


@pytest.mark.parametrize("name", list(ZOO))
def test_simulator_equals_stock_lava(name, zoo_folder):
    entry = ZOO[name]
    path = entry.file(zoo_folder)
    x = entry.inputs(*entry.test)
    bits = entry.message_bits(x)
    layers = sim.compile_network(path)
    result = sim.simulate(layers, x, input_message_bits=bits)
    lava = run_lava(path, x, input_message_bits=bits, layers=layers, network="stock", voltage=True)
    matches = compare(result, lava)
    compared = [m for m in matches if m.mismatches is not None]
    assert {m.index for m in compared} == set(lava.layer_index), matches  # every Lava layer simulated
    assert all(m.mismatches == 0 for m in compared), matches
    # activity to compare past the first layer (pilotnet_lif's last layer, an integrator with the largest
    # threshold, never spikes: its voltage is its output)
    assert np.count_nonzero(lava.layers[0]) and sum(np.count_nonzero(a) for a in lava.layers[1:]), matches
