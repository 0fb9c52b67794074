"""The Lava run the fast simulator is tested and benchmarked against: :func:`lava_ternary.parity.run_lava` with the simulator's phases.

Stock ``LIFReset`` layers restart at netx's staggered offsets, so every layer's recorded stream is cut
into sample windows at its phase from :func:`lava_ternary.sim.default_timing` (0 for TERNARY layers);
the spikes then line up index for index with :func:`lava_ternary.sim.simulate`.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np

from lava_ternary.parity import LavaRun
from lava_ternary.parity import run_lava as run_parity
from lava_ternary.sim.layers import SimLayer, compile_network
from lava_ternary.sim.schedule import Timing, default_timing


def run_lava(path: Union[str, "os.PathLike[str]"], x: np.ndarray, *, input_message_bits: int = 0,
             layers: Sequence[SimLayer] = (), timing: Optional[Timing] = None) -> LavaRun:
    """Simulate ``x`` (``[batch, *input_shape, T]``, torch order) in Lava, windows at the simulator's phases.

    Parameters
    ----------
    path : str or path-like
        The netx file.
    x : np.ndarray
        Integer input; the rows run back to back, one ``reset_interval`` (``T`` steps) each.
    input_message_bits : int
        ``input_message_bits`` of the Lava ``Network`` (0: the input is cast to bool).
    layers, timing : optional
        The compiled layers and their timing (computed from ``path`` when not given).

    Returns
    -------
    LavaRun
        ``layers[i]`` are the spikes of the simulator's ``i``-th neuron layer; ``build_s``,
        ``compile_s``, ``run_s`` and ``steps`` time the run.
    """
    layers = list(layers) or compile_network(path)
    timing = timing or default_timing(layers)
    phases = [phase for layer, phase in zip(layers, timing.phase) if layer.neuron is not None]
    return run_parity(path, x, input_message_bits=input_message_bits, phases=phases)
