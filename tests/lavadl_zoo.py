"""lava-dl's own netx files (shipped in its wheel) and two it writes itself, each with a batched integer input.

Shared by ``tests/test_lavadl_files.py`` and ``benchmarks/netx_zoo.py``. Every entry drives its network
the way lava-dl's tests do (``test_hdf5.py``, ``test_hdf5_nx.py``), batched: sample ``n`` of ``x``
(``[N, *input_shape, T]``, torch order) is fed at steps ``n*T + 1 .. n*T + T`` of one run with
``reset_interval=T``. Where the first layer is an ``input`` layer with a neuron, ``x`` is that neuron's
``a_in``: lava-dl writes the ground-truth image into the input neuron's bias (tinynet, pilotnet_lif);
with ``iDecay=4096`` (no current carried over) a constant ``a_in`` of the same value integrates exactly
as that bias does. Samples other than the first are the shipped input shifted along the width.

The two written examples follow lava-dl: ``dense_rec`` is the network of
``test_recurrent_netx_save_and_load`` (two ``slayer.block.cuba.Recurrent`` blocks, exported by the same
loop); ``rf`` is lava-dl's resonate-and-fire dense blocks (``slayer.block.rf_iz.Dense`` and
``slayer.block.rf.Dense``: complex weights, ``RF_IZHIKEVICH`` / ``RF_PHASE`` neurons) exported by that loop.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np


def lavadl_tests() -> Path:
    """The folder of lava-dl's shipped netx tests (``site-packages/tests/lava/lib/dl/netx``)."""
    import lava_ternary  # noqa: F401  (Python 3.11 fix before lava)

    spec = importlib.util.find_spec("lava.lib.dl.netx")
    return Path(spec.submodule_search_locations[0]).parents[3] / "tests" / "lava" / "lib" / "dl" / "netx"


def _gts(name: str) -> np.ndarray:
    return np.load(lavadl_tests() / "gts" / name)


def _shifted(frame: np.ndarray, samples: int, steps: int, shift: int) -> np.ndarray:
    """``[samples, C, H, W, steps]`` int64: the (C, H, W) frame rolled by ``n * shift`` along W, constant in time."""
    rows = [np.roll(frame, n * shift, axis=-1) for n in range(samples)]
    return np.repeat(np.stack(rows).astype(np.int64)[..., None], steps, axis=-1)


def _whc(name: str) -> np.ndarray:
    """A shipped (W, H, C[, 1]) array as (C, H, W)."""
    data = _gts(name)
    return data.reshape(data.shape[:3]).transpose(2, 1, 0)


def tiny_input(samples: int, steps: int) -> np.ndarray:
    """tinynet's ground-truth input bias (``gts/tinynet/input_bias.npy``) as the input neuron's ``a_in``."""
    return _shifted(_whc("tinynet/input_bias.npy"), samples, steps, 3)


def mnist_input(samples: int, steps: int) -> np.ndarray:
    """sklearn digits (8x8, 0..16) scaled to 24x24, padded to 28x28, through mnist.net's input transform
    (``weight`` 76, ``bias`` 64: ``a_in = pixel/16 * 76 + 64``, rounded), constant in time."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:samples]
    images = np.pad(np.kron(images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
    a_in = np.rint(images / 16 * 76 + 64).astype(np.int64).reshape(len(images), 784)
    return np.repeat(a_in[..., None], steps, axis=-1)


def pilotnet_lif_input(samples: int, steps: int) -> np.ndarray:
    """pilotnet_lif's ground-truth image (``gts/pilotnet_lif/image.npy``, written to the input bias by lava-dl)."""
    return _shifted(_whc("pilotnet_lif/image.npy"), samples, steps, 8)


def ntidigits_input(samples: int, steps: int) -> np.ndarray:
    """Consecutive ``steps``-long windows of the shipped 3000-step ntidigits spike stream (64 channels)."""
    stream = _gts("ntidigits/input.npy").astype(np.int64)
    if samples * steps > stream.shape[1]:
        raise ValueError(f"ntidigits: {samples} x {steps} steps exceed the shipped {stream.shape[1]} steps")
    return stream[:, :samples * steps].reshape(64, samples, steps).transpose(1, 0, 2)


def pilotnet_sdnn_input(samples: int, steps: int) -> np.ndarray:
    """The shipped SDNN frame (``gts/pilotnet_sdnn/input.npy``, the Delta input neuron's ``a_in``)."""
    return _shifted(_whc("pilotnet_sdnn/input.npy"), samples, steps, 4)


def square_input(samples: int, steps: int) -> np.ndarray:
    """The shipped SDNN frame cropped to the square network's 33x33 input."""
    return _shifted(_whc("pilotnet_sdnn/input.npy")[..., :33], samples, steps, 4)


def spike_input(channels: int, rate: float) -> Callable[[int, int], np.ndarray]:
    """Seeded Bernoulli spikes ``[samples, channels, steps]`` (0/1)."""
    def make(samples: int, steps: int) -> np.ndarray:
        rng = np.random.default_rng(channels)
        return (rng.random((samples, channels, steps)) < rate).astype(np.int64)
    return make


def write_recurrent(path: Path) -> Path:
    """lava-dl's recurrent example (``test_recurrent_netx_save_and_load``), exported by its own loop."""
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(0)
    params = {"threshold": 0.95, "current_decay": 0.5, "voltage_decay": 0.15, "tau_grad": 1.0,
              "scale_grad": 1.0, "shared_param": False, "requires_grad": False, "graded_spike": False}
    blocks = [slayer.block.cuba.Recurrent(params, 6, 5, weight_scale=0.0, pre_hook_fx=None),
              slayer.block.cuba.Recurrent(params, 5, 5, weight_scale=0.0, pre_hook_fx=None)]
    for block in blocks:
        block.input_synapse.weight.data += 0.1
        block.recurrent_synapse.weight.data += 0.05
    return export_blocks(blocks, torch.zeros((1, 6, 4)) + 0.2, path)


def write_rf(path: Path) -> Path:
    """lava-dl's resonate-and-fire dense blocks (RF_IZHIKEVICH then RF_PHASE, complex weights), seeded."""
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(0)
    params = {"threshold": 0.5, "period": 7, "decay": 0.1}
    blocks = [slayer.block.rf_iz.Dense(params, 20, 16, weight_scale=4),
              slayer.block.rf.Dense(params, 16, 8, weight_scale=4)]
    return export_blocks(blocks, (torch.rand((1, 20, 8)) < 0.3).float(), path)


def export_blocks(blocks, x, path: Path) -> Path:
    """One forward pass (it fixes the neuron shapes), then lava-dl's per-block export loop."""
    import h5py
    import torch

    with torch.no_grad():
        for block in blocks:
            x = block(x)
    with h5py.File(path, "w") as handle:
        layer = handle.create_group("layer")
        for index, block in enumerate(blocks):
            block.export_hdf5(layer.create_group(str(index)))
    return path


@dataclass(frozen=True)
class ZooFile:
    """One network of the zoo.

    Attributes
    ----------
    name : str
        Short name (the benchmark's ``--files``).
    path : str
        Relative to :func:`lavadl_tests`, or the name of a file written by ``write``.
    inputs : callable
        ``inputs(samples, steps)`` -> integer ``[samples, *input_shape, steps]``.
    full, quick, test : (samples, steps)
        Batch sizes of the benchmark, of ``--quick`` and of the test suite.
    independent : str
        Whether the samples of a batch are independent in Lava with ``reset_interval=T``, and why (not).
    input_message_bits : int or None
        ``input_message_bits`` of the Lava ``Network`` and the simulator: 0 for spikes (0/1), None for
        :func:`lava_ternary.parity.default_message_bits` of the input (files whose input neuron takes
        ``x`` as ``a_in`` directly: Lava ignores the value there, the simulator must not binarise ``x``).
    write : callable or None
        Writes the file (the lava-dl-written examples), else None.
    """

    name: str
    path: str
    inputs: Callable[[int, int], np.ndarray]
    full: Tuple[int, int]
    quick: Tuple[int, int]
    test: Tuple[int, int]
    independent: str
    input_message_bits: Optional[int] = None
    write: Optional[Callable[[Path], Path]] = None

    def file(self, folder: Path) -> Path:
        """The netx file: shipped with lava-dl, or written into ``folder`` (once)."""
        if self.write is None:
            return lavadl_tests() / self.path
        path = Path(folder) / self.path
        return path if path.exists() else self.write(path)

    def message_bits(self, x: np.ndarray) -> int:
        """The ``input_message_bits`` for input ``x``."""
        from lava_ternary.parity import default_message_bits

        return default_message_bits(x) if self.input_message_bits is None else self.input_message_bits


_LIF = ("yes but one step: every LIF layer is a LIFReset restarting u and v once per sample at netx's "
        "staggered offset, so each integrates exactly its sample, except the input neuron: fed one step late "
        "(parity.run_lava's alignment), its reset step integrates the previous sample's last a_in (with that "
        "input 0, a sample's spikes in a batch equal its spikes alone)")
ZOO: Dict[str, ZooFile] = {entry.name: entry for entry in [
    ZooFile("tiny", "tiny.net", tiny_input, (64, 16), (8, 8), (2, 6), _LIF),
    ZooFile("mnist", "mnist.net", mnist_input, (64, 16), (8, 8), (2, 6), _LIF),
    ZooFile("pilotnet_lif", "gts/pilotnet_lif/network.net", pilotnet_lif_input, (32, 16), (4, 8), (2, 2), _LIF),
    ZooFile("ntidigits", "gts/ntidigits/ntidigits.net", ntidigits_input, (32, 40), (8, 25), (3, 20),
            "no: its samples are windows of one spike stream; the axonal-delay buffers (up to 62 steps) carry "
            "a window's spikes into the next after LIFReset restarts u and v", input_message_bits=0),
    ZooFile("pilotnet_sdnn", "gts/pilotnet_sdnn/network.net", pilotnet_sdnn_input, (32, 8), (4, 5), (2, 4),
            "no: netx ignores reset_interval for SDNN (sigma-delta state is never reset), so samples are "
            "consecutive frames of one stream"),
    ZooFile("square_network", "gts/pilotnet_sdnn/square_network.net", square_input, (32, 8), (4, 5), (2, 4),
            "no: SDNN, as pilotnet_sdnn"),
    ZooFile("dense_rec", "recurrent_example.net", spike_input(6, 0.5), (64, 25), (8, 12), (3, 10),
            "no: LIFReset restarts u and v, but the recurrent synapse still delivers the last spikes of the "
            "previous sample", input_message_bits=0, write=write_recurrent),
    ZooFile("rf", "rf_dense.net", spike_input(20, 0.3), (64, 25), (8, 12), (3, 10),
            "no: netx builds RF/RF_IZ neurons without reset, so their state carries over", input_message_bits=0,
            write=write_rf),
]}
