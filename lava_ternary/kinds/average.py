"""``average``: netx's population readout (groups of consecutive neurons averaged into each output)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.base import LayerKind, Shape


class Average(LayerKind):
    """A readout, not a Lava layer: the previous layer's spikes summed per output group."""

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
        raise NetxFormatError(net.path, spec.index, "type", f"the simulator cannot run {self.name!r} layers")
