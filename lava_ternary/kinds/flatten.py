"""``flatten``: reshapes (C, H, W) to (N,) between a conv-shaped and a dense layer; no synapse, no neuron."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from lava_ternary.kinds.base import LayerKind, Shape


class Flatten(LayerKind):
    """Only a shape change: stock netx builds nothing; the simulator reshapes the messages."""

    name = "flatten"

    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        fields: Dict[str, Any] = {}
        if prev is None:  # a leading flatten: the network consumes the flattened vector
            prev = fields["input_shape"] = (math.prod(shape),)
        if math.prod(shape) != math.prod(prev):
            raise reader.fail(index, "shape", f"flatten of {prev} must have {math.prod(prev)} elements, found {shape}")
        return fields
