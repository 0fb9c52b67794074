"""When each simulated layer's sample window sits in the Lava run, and which producer steps it reads.

With ``reset_interval=T`` and ``reset_offset=0``, sample ``n`` is fed at steps ``n*T + 1 .. n*T + T``.
Every synapse adds one step of latency. TERNARY layers restart together (phase 0); stock ``LIFReset``
layers restart at netx's staggered offsets (their position among the built layers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lava_ternary.sim.layers import SimLayer


@dataclass(frozen=True)
class Timing:
    """Where each layer's sample window sits in the Lava run, as :class:`lava_ternary.netx.Network` places it.

    A layer with *phase* ``p`` resets at steps ``n*T + 1 + p`` and its window step ``k`` is global step
    ``n*T + 1 + p + k``. TERNARY layers all have phase 0; stock ``LIFReset`` layers have netx's phase,
    their position among the built layers. ``lag[j]`` is how many steps behind layer ``j``'s window the
    messages it integrates were sent (producer phase + synaptic latency - own phase).

    Attributes
    ----------
    phase : tuple of int
        Phase of every simulated layer (flatten layers repeat their producer's).
    lag : tuple of int
        Lag of every simulated layer (0 for flatten).
    """

    phase: Tuple[int, ...]
    lag: Tuple[int, ...]


def default_timing(layers: Sequence["SimLayer"]) -> Timing:
    """The timing of :class:`lava_ternary.netx.Network` with ``reset_interval=T``, ``reset_offset=0``.

    Every built layer (``input`` with a neuron, ``dense``, ``conv``/``pool``) takes one netx reset
    offset in order; ``LIFReset`` groups (CUBA, the neuron-less integrator) keep it as their phase; TERNARY
    groups restart with the sample and groups that never restart (SDNN, RF) follow the run: phase 0. Synapses add one step;
    an ``input`` neuron (no synapse) is fed one step late, as :func:`lava_ternary.parity.run_lava` does,
    so that it lines up with slayer's ``delay_shift`` too.
    """
    phases, lags = [], []
    producer, position = 0, 0
    for layer in layers:
        if layer.neuron is None or not layer.neuron.hop:  # a reshape or a readout: the producer's window
            phases.append(producer)
            lags.append(0)
            continue
        phase = position if layer.neuron.staggered else 0
        lags.append(producer + 1 - phase)
        phases.append(phase)
        producer = phase
        position += 1
    return Timing(phase=tuple(phases), lag=tuple(lags))


def frames(restart: bool, lag: int, active: Sequence[bool],
           alias: Sequence[int]) -> Tuple[slice | List[int], np.ndarray]:
    """Producer steps a consumer must multiply, and the ``slot`` map from every step to its row of the product.

    A step is multiplied when it sends something (``active``) and a used consumer step reads it (a
    TERNARY layer's reset step discards its input); a step whose messages equal an earlier step's
    (``alias[t]``, e.g. direct-encoded input repeating one image) reuses that step's row.
    """
    steps = len(active)
    used = sorted({(t - lag) % steps for t in range(1 if restart else 0, steps)} & {t for t in range(steps) if active[t]})
    chosen = sorted({alias[t] for t in used})
    slot = np.full(steps, -1, np.int64)
    for t in used:
        slot[t] = chosen.index(alias[t])
    if chosen and chosen[-1] - chosen[0] + 1 == len(chosen):
        return slice(chosen[0], chosen[-1] + 1), slot  # a view, no copy
    return chosen, slot
