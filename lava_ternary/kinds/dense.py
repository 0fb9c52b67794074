"""``dense`` and ``dense_rec``: a fully connected synapse (optionally with axonal delays or recurrence)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import numpy as np

from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.base import LayerKind, Shape

#: Delays the simulator and Lava run: netx clips anything else.
MAX_DELAY = 62


class Dense(LayerKind):
    """``weight`` ``(out, in)``, optional ``bias`` per neuron, optional ``delay`` (scalar, per output or per synapse)."""

    name = "dense"
    synaptic = True
    has_neuron = True

    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        if isinstance(raw.get("weight"), dict):
            raise reader.fail(index, "weight", "complex (real/imag) weights are not supported")
        weight = reader.weight(raw, "weight", index, (1, 2))
        out = math.prod(shape)
        weight = weight.reshape(out, -1) if weight.ndim == 1 and weight.size % out == 0 else weight
        if weight.ndim != 2 or weight.shape[0] != out:
            raise reader.fail(index, "weight", f"expected ({out}, in) for {out} outputs, found {weight.shape}")
        if prev is not None and weight.shape[1] != math.prod(prev):
            raise reader.fail(index, "weight", f"{weight.shape[1]} inputs do not match the previous output {prev} "
                                               f"({math.prod(prev)} values)")
        for key, expect in (("inFeatures", weight.shape[1]), ("outFeatures", out)):
            value = reader.scalar(raw, key, index, default=expect)
            if value != expect:
                raise reader.fail(index, key, f"{value} does not match the weight shape {weight.shape}")
        fields: Dict[str, Any] = {"weight": weight,
                                  "delay": reader.delay(raw, index, tuple({out, weight.shape[1]}), weight.shape)}
        if prev is None:
            fields["input_shape"] = (int(weight.shape[1]),)
        return fields

    def netx_values(self, layer) -> Dict[str, Any]:
        values = super().netx_values(layer)
        for key in ("weight", "weight_rec", "bias", "delay"):
            if getattr(layer, key) is not None:
                values[key] = getattr(layer, key)
        if layer.delay is not None and not np.any(layer.delay):
            del values["delay"]  # all-zero delays: a plain Dense, as the simulator runs it
        return values

    def compile(self, spec, net, neuron):
        from lava_ternary.sim.layers import SimLayer, lava_dense_weights

        weight, exp = lava_dense_weights(spec.weight)
        return SimLayer(index=spec.index, type=self.name, in_shape=tuple(spec.input_shape), out_shape=tuple(spec.shape),
                        weight=weight, weight_exp=exp, delay=self._sim_delay(spec, net.path), neuron=neuron)

    @staticmethod
    def _sim_delay(spec, path: str) -> Optional[np.ndarray]:
        """The per-neuron delay the simulator runs (None without delays); other delays are refused."""
        if spec.delay is None or not np.any(spec.delay != 0):
            return None
        size = int(np.prod(spec.shape))
        if not spec.neuron.is_ternary or spec.delay.size not in (1, size):
            raise NetxFormatError(path, spec.index, "delay", "the simulator delays TERNARY dense layers with one "
                                  "delay per output neuron (netx ignores a conv layer's delay)")
        return np.broadcast_to(np.clip(spec.delay, 0, MAX_DELAY).reshape(-1), (size,)).astype(np.int64).copy()

    def sums(self, layer, m: np.ndarray, in_max: float):
        from lava_ternary.sim.synapse import dense_sums

        return dense_sums(layer, m, in_max)

    def synaptic_input(self, layer, run):
        if layer.delay is None:
            return run.framed(layer)
        return run.delayed(layer)

    def fan_out(self, layer) -> np.ndarray:
        return np.full(int(np.prod(layer.in_shape)), layer.weight.shape[0], dtype=np.int64).reshape(layer.in_shape)

    def fan_in(self, layer) -> int:
        return int(layer.weight.shape[1])

    def worst_input(self, layer) -> int:
        weight = np.abs(layer.weight.astype(np.int64)) << max(layer.weight_exp, 0)
        return int(weight.reshape(weight.shape[0], -1).sum(axis=1).max()) if weight.size else 0


class DenseRec(Dense):
    """``dense_rec``: a dense synapse plus ``weight_rec`` ``(out, out)`` feeding the layer's spikes back."""

    name = "dense_rec"

    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        fields = super().read(reader, raw, index, shape, prev)
        out = math.prod(shape)
        weight_rec = reader.weight(raw, "weight_rec", index, (1, 2))
        if weight_rec.size != out * out:
            raise reader.fail(index, "weight_rec", f"expected ({out}, {out}), found {weight_rec.shape}")
        fields["weight_rec"] = weight_rec.reshape(out, out)
        return fields

    def compile(self, spec, net, neuron):
        raise NetxFormatError(net.path, spec.index, "type", f"the simulator cannot run {self.name!r} layers")
