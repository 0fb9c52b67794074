"""``average``: netx's population readout (groups of consecutive neurons averaged into each output)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from lava_ternary.kinds.base import LayerKind, Shape


class Average(LayerKind):
    """A readout, not a Lava layer: the previous layer's messages averaged per output group (slayer's ``Average``)."""

    name = "average"

    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        reader.need_prev(index, prev)
        if math.prod(prev) % math.prod(shape):
            raise reader.fail(index, "shape", f"average to {math.prod(shape)} outputs must divide the "
                                              f"{math.prod(prev)} inputs")
        return {}

    def lava_refusal(self, layer) -> Optional[str]:
        return (f"an average readout has no Lava layer; load with num_layers={layer.index} and sum the previous "
                "layer's spikes per class (population readout)")

    def compile(self, spec, net, neuron):
        from lava_ternary.sim.layers import SimLayer
        from lava_ternary.sim.stream import Readout

        return SimLayer(index=spec.index, type=self.name, in_shape=tuple(spec.input_shape), out_shape=tuple(spec.shape),
                        neuron=Readout(outputs=spec.size))

    def synaptic_input(self, layer, run):
        return run.direct(layer)

    def edges(self, layer):
        return []
