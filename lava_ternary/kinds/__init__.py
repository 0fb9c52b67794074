"""Layer kinds: one class per netx ``type``, the one home of everything that depends on it.

Each kind (:class:`~lava_ternary.kinds.base.LayerKind`) reads and validates its keys, shows stock netx
what to build in Lava, computes its synapse in the simulator, and counts its synapses and fan-in for the
report. The reader, the Lava loader, the simulator and the report iterate over layers and call
``layer.kind``; adding a kind is adding a class here.
"""
from __future__ import annotations

from typing import Dict

from lava_ternary.kinds.average import Average
from lava_ternary.kinds.base import LayerKind
from lava_ternary.kinds.concat import Concat
from lava_ternary.kinds.conv import Conv, Pool
from lava_ternary.kinds.dense import Dense, DenseRec
from lava_ternary.kinds.flatten import Flatten
from lava_ternary.kinds.input import Input

__all__ = ["KINDS", "LayerKind", "get"]

#: Every kind this package reads, by its netx ``type``.
KINDS: Dict[str, LayerKind] = {kind.name: kind for kind in (Input(), Dense(), DenseRec(), Conv(), Pool(), Flatten(),
                                                             Average(), Concat())}


def get(name: str) -> LayerKind:
    """The kind of a netx layer ``type`` (KeyError for types no kind reads: the reader refuses those first)."""
    return KINDS[name]
