"""Networks lava-dl's own slayer blocks export, of every stock kind: the simulator equals Lava spike for spike.

The files are written by slayer's ``export_hdf5`` (nobody here wrote their keys): RF and RF_IZ (complex
weights), a CUBA ``Recurrent`` block (``dense_rec``) between a dense layer and a delayed one, and an SDNN
chain (Delta input, SigmaDelta, Sigma output). Each runs through :class:`lava_ternary.netx.Network` on Lava
``fixed_pt`` (:func:`lava_ternary.sim.reference.run_lava`: the samples back to back) and through
:func:`lava_ternary.sim.simulate` on the same batch.
"""
import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401  (the Python 3.11 fix before lava)
from lava.lib.dl import slayer

from lava_ternary import sim
from lava_ternary.sim.reference import run_lava
from lavadl_zoo import export_blocks

CUBA = {"threshold": 0.5, "current_decay": 0.3, "voltage_decay": 0.1}
RF = {"threshold": 0.1, "period": 7, "decay": 0.1}
SDNN = {"threshold": 0.1, "activation": torch.nn.functional.relu}


def networks():
    torch.manual_seed(0)
    return {
        "rf": (lambda: [slayer.block.rf.Dense(RF, 12, 8, weight_scale=4),
                        slayer.block.rf_iz.Dense(dict(RF, period=5), 8, 5, weight_scale=4)],
               torch.rand(1, 12, 10).round(), np.random.default_rng(1).integers(0, 2, (3, 12, 10)), 0),
        "recurrent": (lambda: [slayer.block.cuba.Dense(CUBA, 10, 8, weight_scale=2),
                               slayer.block.cuba.Recurrent(CUBA, 8, 6, weight_scale=2),
                               slayer.block.cuba.Dense(dict(CUBA, threshold=0.3), 6, 4, weight_scale=2, delay=True)],
                      torch.rand(1, 10, 12).round(), np.random.default_rng(1).integers(0, 2, (3, 10, 12)), 0),
        "sdnn": (lambda: [slayer.block.sigma_delta.Input(SDNN), slayer.block.sigma_delta.Dense(SDNN, 10, 8, weight_scale=2),
                          slayer.block.sigma_delta.Output(SDNN, 8, 3, weight_scale=2)],
                 torch.rand(1, 10, 12), np.random.default_rng(1).integers(-300, 300, (2, 10, 12)), 16),
    }


@pytest.mark.parametrize("name", ["rf", "recurrent", "sdnn"])
def test_slayer_exports_of_every_stock_kind_simulate_as_lava_runs_them(tmp_path, name):
    make, probe, x, bits = networks()[name]
    path = export_blocks(make(), probe, tmp_path / f"{name}.net")
    layers = sim.compile_network(path)
    ours = sim.simulate(layers, x, input_message_bits=bits)
    lava = run_lava(path, x, input_message_bits=bits, layers=layers).layers
    assert len(lava) == len(ours.spikes)
    for layer, a, b in zip(ours.layers, ours.spikes, lava):
        assert a.shape == b.shape, f"layer {layer.index}"
        assert np.count_nonzero(a) > 0, f"layer {layer.index} ({layer.neuron.kind}) is silent: the test would be empty"
        bad = np.argwhere(a != b)
        assert bad.size == 0, f"{name} layer {layer.index} ({layer.neuron.kind}): {len(bad)} mismatches"
