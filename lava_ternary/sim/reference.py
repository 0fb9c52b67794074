"""Run a batch through the real Lava network (``fixed_pt``) back to back, with every layer's spikes in the simulator's layout.

This is the reference the fast simulator is tested and benchmarked against: the netx file is loaded
by :class:`lava_ternary.netx.Network` with ``reset_interval=T``, samples are fed by a ``RingBuffer``
source as one stream, and every built layer's output goes to its own ``RingBuffer`` sink. The recorded
stream is cut into per-sample windows with the phases of :func:`lava_ternary.sim.default_timing`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import List, Sequence, Union

import numpy as np

from lava_ternary.sim.core import SimLayer, Timing, compile_network, default_timing


def _to_lava(arr: np.ndarray) -> np.ndarray:
    """[..., C, H, W, T] (torch order) -> [..., W, H, C, T] (Lava order); (N, T) unchanged."""
    return arr.transpose(2, 1, 0, 3) if arr.ndim == 4 else arr


@dataclass
class LavaReference:
    """Spikes of every Lava layer (simulator layout) and the wall times of the run.

    Attributes
    ----------
    spikes : list of np.ndarray
        For every neuron layer, int8 spikes ``[batch, *shape, T]`` in torch order, aligned to its window.
    build_s : float
        Building the network and its I/O processes.
    compile_s : float
        Compiling and running the first step.
    run_s : float
        Running the remaining ``steps - 1`` steps.
    steps : int
        Steps simulated.
    """

    spikes: List[np.ndarray]
    build_s: float
    compile_s: float
    run_s: float
    steps: int


def run_lava(path: Union[str, "os.PathLike[str]"], x: np.ndarray, *, input_message_bits: int = 0,
             layers: Sequence[SimLayer] = (), timing: Timing = None) -> LavaReference:
    """Simulate ``x`` (``[batch, *input_shape, T]``, torch order) in Lava; return spikes per built layer.

    Parameters
    ----------
    path : str or path-like
        The netx file.
    x : np.ndarray
        Integer input; the rows run back to back, one ``reset_interval`` (``T`` steps) each.
    input_message_bits : int
        ``input_message_bits`` of the Lava ``Network``.
    layers, timing : optional
        The compiled layers and their timing (computed from ``path`` when not given).

    Returns
    -------
    LavaReference
        Per-layer spikes and timings.
    """
    import lava_ternary  # noqa: F401  (the Python 3.11 fix must precede lava)
    from lava.lib.dl.netx.blocks.process import Input
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    from lava_ternary.netx import Network

    start = time.perf_counter()
    layers = list(layers) or compile_network(path)
    timing = timing or default_timing(layers)
    batch, steps = x.shape[0], x.shape[-1]
    neuron_layers = [(l, p) for l, p in zip(layers, timing.phase) if l.neuron is not None]
    extra = max(p for _, p in neuron_layers) + 1
    total = batch * steps + extra
    stream = np.moveaxis(np.asarray(x, dtype=np.int64), 0, -2).reshape(x.shape[1:-1] + (batch * steps,))
    first = layers[0].in_shape
    net = Network(os.fspath(path), input_message_bits=input_message_bits, reset_interval=steps,
                  input_shape=tuple(first[::-1]) if len(first) == 3 else None)
    direct = isinstance(net.layers[0], Input)
    # an input neuron has no synapse buffer: feed it one step later, as lava_ternary.parity does
    stream = np.concatenate([np.zeros(stream.shape[:-1] + (int(direct),), np.int64), stream,
                             np.zeros(stream.shape[:-1] + (extra - int(direct),), np.int64)], axis=-1)
    source = io.source.RingBuffer(data=_to_lava(stream).astype(np.int32))
    source.s_out.connect(net.layers[0].neuron.a_in if direct else net.inp)
    if len(net.layers) != len(neuron_layers):
        raise RuntimeError(f"Lava built {len(net.layers)} layers, the simulator {len(neuron_layers)}")
    sinks = []
    for block in net.layers:
        sink = io.sink.RingBuffer(shape=block.out.shape, buffer=total)
        block.out.connect(sink.a_in)
        sinks.append(sink)
    config = Loihi2SimCfg(select_tag="fixed_pt")
    build_s = time.perf_counter() - start
    try:
        start = time.perf_counter()
        net.run(condition=RunSteps(num_steps=1), run_cfg=config)
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        net.run(condition=RunSteps(num_steps=total - 1), run_cfg=config)
        run_s = time.perf_counter() - start
        recorded = [sink.data.get() for sink in sinks]
    finally:
        net.stop()
    out = []
    for (layer, phase), data in zip(neuron_layers, recorded):
        data = _to_lava(np.rint(data).astype(np.int64))  # the transpose is its own inverse
        window = data[..., phase:phase + batch * steps].reshape(data.shape[:-1] + (batch, steps))
        out.append(np.moveaxis(window, -2, 0).astype(np.int8))
    return LavaReference(spikes=out, build_s=build_s, compile_s=compile_s, run_s=run_s, steps=total)
