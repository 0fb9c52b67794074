"""The Lava run the fast simulator is tested and benchmarked against: :func:`lava_ternary.parity.run_lava` with the simulator's phases.

Stock ``LIFReset`` layers restart at netx's staggered offsets, so every layer's recorded stream is cut
into sample windows at its phase from :func:`lava_ternary.sim.default_timing` (0 for TERNARY layers);
the spikes then line up index for index with :func:`lava_ternary.sim.simulate`.

:func:`run_lava` runs any netx file, on stock :class:`lava.lib.dl.netx.hdf5.Network` (``network='stock'``)
or on :class:`lava_ternary.netx.Network`, recording every Lava layer's messages (spikes or graded values)
and the voltage of layers without a neuron group; :func:`compare` matches a simulation against it layer
by layer (file index). A file the simulator refuses still runs in Lava (windows at phase 0).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from lava_ternary.errors import NetxFormatError
from lava_ternary.parity import LavaRun
from lava_ternary.parity import lava_layers
from lava_ternary.parity import run_lava as run_parity
from lava_ternary.sim.layers import SimLayer, compile_network
from lava_ternary.sim.schedule import Timing, default_timing

log = logging.getLogger(__name__)

NETWORKS = ("ours", "stock")


def _network_class(network: Union[str, Any]) -> Any:
    """``'ours'`` -> :class:`lava_ternary.netx.Network`, ``'stock'`` -> lava-dl's; a class passes through."""
    if network == "ours":
        from lava_ternary.netx import Network

        return Network
    if network == "stock":
        from lava.lib.dl.netx.hdf5 import Network

        return Network
    if isinstance(network, str):
        raise ValueError(f"network={network!r}: expected one of {NETWORKS} or a Network class")
    return network


def readout_layers(path: Union[str, "os.PathLike[str]"]) -> Optional[int]:
    """``num_layers`` that leaves out a file's ``average`` readout (netx builds none), or None when it has none.

    lava-dl's own ntidigits test loads its file with ``num_layers=5`` for this reason.
    """
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["layer"]
        for index in range(len(group)):
            kind = np.asarray(group[str(index)]["type"][()]).reshape(-1)[0]
            if (kind.decode("ascii") if isinstance(kind, bytes) else str(kind)) == "average":
                return index
    return None


def run_lava(path: Union[str, "os.PathLike[str]"], x: np.ndarray, *, input_message_bits: int = 0,
             layers: Optional[Sequence[SimLayer]] = None, timing: Optional[Timing] = None,
             network: Union[str, Any] = "ours", voltage: bool = False, chunk: Optional[int] = None) -> LavaRun:
    """Simulate ``x`` (``[batch, *input_shape, T]``, torch order) in Lava, windows at the simulator's phases.

    Parameters
    ----------
    path : str or path-like
        The netx file. An ``average`` readout and what follows it are left out (netx builds none).
    x : np.ndarray
        Integer input; the rows run back to back, one ``reset_interval`` (``T`` steps) each (one row:
        one stream). For a file whose first layer is an ``input`` layer with a neuron, ``x`` is that
        neuron's ``a_in``, fed one step late (see :func:`lava_ternary.parity.run_lava`). Layers that
        netx builds without a reset (SDNN, RF) carry their state from one row to the next.
    input_message_bits : int
        ``input_message_bits`` of the Lava ``Network`` (0: the input is cast to bool).
    layers, timing : optional
        The compiled layers and their timing; computed from ``path`` when not given. A file
        :func:`lava_ternary.sim.compile_network` refuses runs with every window at phase 0.
    network : {'ours', 'stock'} or class
        :class:`lava_ternary.netx.Network`, lava-dl's stock :class:`lava.lib.dl.netx.hdf5.Network`,
        or another class with the same constructor.
    voltage : bool
        Also record the voltage of layers without a neuron group (:attr:`LavaRun.voltage`).
    chunk : int, optional
        Steps per ``run`` call after the first (see :func:`lava_ternary.parity.run_lava`).

    Returns
    -------
    LavaRun
        ``layers[i]`` are the messages of the Lava layer of file index ``layer_index[i]``; ``build_s``,
        ``compile_s``, ``run_s`` and ``steps`` time the run.
    """
    if layers is None:
        try:
            layers = compile_network(path)
        except NetxFormatError as error:
            log.info("simulator refuses %s (%s): Lava windows at phase 0", path, error)
            layers = []
    layers = list(layers)
    num_layers = readout_layers(path)
    phases = None
    if layers:
        timing = timing or default_timing(layers)
        phase_of = {layer.index: phase for layer, phase in zip(layers, timing.phase)}
        phases = [phase_of.get(index, 0) for index, _ in lava_layers(path, num_layers)]
    return run_parity(path, x, input_message_bits=input_message_bits, phases=phases,
                      network=_network_class(network), num_layers=num_layers, voltage=voltage, chunk=chunk)


@dataclass
class LayerMatch:
    """One layer of :func:`compare`.

    Attributes
    ----------
    index : int
        File index of the layer.
    source : str
        What was compared: ``'spikes'`` (the layer's messages, spikes or graded values), ``'voltage'``
        (a layer without a neuron group), or why nothing was: ``'not in Lava'`` / ``'not simulated'``.
    mismatches : int or None
        Entries that differ (None when not compared).
    nonzero : int
        Non-zero entries of the Lava side (the simulator's where Lava has no such layer).
    size : int
        Entries compared.
    """

    index: int
    source: str
    mismatches: Optional[int]
    nonzero: int
    size: int


def outputs(run: Any) -> Dict[int, Tuple[str, np.ndarray]]:
    """``{file index: (source, values)}`` of a simulation (``layers[i].index``, ``spikes[i]``) or a :class:`LavaRun`.

    A Lava layer whose voltage was recorded (no neuron group) gives ``('voltage', v)``, every other layer
    ``('spikes', messages)``.
    """
    if isinstance(run, LavaRun):
        out = {index: ("spikes", values) for index, values in zip(run.layer_index, run.layers)}
        out.update({index: ("voltage", values) for index, values in run.voltage.items()})
        return out
    return {layer.index: ("spikes", np.asarray(values)) for layer, values in zip(run.layers, run.spikes)}


def compare(result: Any, lava: LavaRun) -> List[LayerMatch]:
    """Match a simulation (or another :class:`LavaRun`) against a Lava run, layer by layer (file index).

    A layer without a neuron group is compared with Lava's recorded voltage when the run recorded it
    (``voltage=True``). Shapes that differ only by singleton dimensions (a dense layer of shape ``(N, 1, 1)``)
    are compared flattened; any other shape difference counts every entry as a mismatch.
    """
    ours, theirs = outputs(result), outputs(lava)
    matches = []
    for index in sorted(set(ours) | set(theirs)):
        if index not in ours or index not in theirs:
            _, side = theirs.get(index) or ours[index]
            matches.append(LayerMatch(index, "not simulated" if index not in ours else "not in Lava", None,
                                      int(np.count_nonzero(side)), int(side.size)))
            continue
        (_, sim), (source, ref) = ours[index], theirs[index]
        if sim.shape != ref.shape and sim.size == ref.size and sim.shape[0] == ref.shape[0]:
            # a dense layer of shape (N, 1, 1) in the file is (N,) in Lava: same order once flattened
            sim, ref = (a.reshape(a.shape[0], -1, a.shape[-1]) for a in (sim, ref))
        wrong = int(np.count_nonzero(sim.astype(np.int64) != ref)) if sim.shape == ref.shape else int(ref.size)
        matches.append(LayerMatch(index, source, wrong, int(np.count_nonzero(ref)), int(ref.size)))
    return matches
