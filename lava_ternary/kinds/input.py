"""``input``: the first layer; declares the input shape and optionally a neuron group driven by the input."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from lava_ternary.kinds.base import LayerKind, Shape

#: netx reads an input layer's weight and bias with ``int(...)`` into ``Input.transform`` (never applied).
TRANSFORM_RANGES = {"weight": (-256, 254), "bias": (-(1 << 12), (1 << 12) - 1)}


class Input(LayerKind):
    """A neuron-less ``input`` layer only states the shape; with a neuron group the input drives it directly."""

    name = "input"
    has_neuron = True

    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        if prev is not None:
            raise reader.fail(index, "type", "an input layer must be the first layer")
        fields: Dict[str, Any] = {}
        for key, (lo, hi) in TRANSFORM_RANGES.items():
            value = reader.ints(raw, key, index, required=False, lo=lo, hi=hi)
            if value is not None and value.size != 1:
                raise reader.fail(index, key, f"expected one value, found shape {value.shape}")
            if value is not None and key == "weight":
                fields["transform_weight"] = int(value.reshape(-1)[0])
            elif value is not None:
                fields["bias"] = value
        return fields

    def builds(self, layer) -> bool:
        return layer.neuron is not None

    def netx_values(self, layer) -> Dict[str, Any]:
        values = super().netx_values(layer)
        if layer.bias is not None:
            values["bias"] = layer.bias
        if layer.transform_weight is not None:
            values["weight"] = np.int64(layer.transform_weight)
        return values

    def compile(self, spec, net, neuron):
        if neuron is None:
            return None  # only the shape: the first synapse reads the input itself
        from lava_ternary.sim.layers import SimLayer

        return SimLayer(index=spec.index, type=self.name, in_shape=tuple(spec.shape), out_shape=tuple(spec.shape),
                        neuron=neuron)

    def sums(self, layer, m: np.ndarray, in_max: float):
        return np.asarray(m, dtype=np.int64).reshape(m.shape[:2] + (layer.num_neurons,)), in_max

    def fan_out(self, layer) -> np.ndarray:
        return np.ones(layer.in_shape, dtype=np.int64)

    def fan_in(self, layer) -> int:
        return 1
