"""``dense`` and ``dense_rec``: a fully connected synapse (optionally with axonal delays or recurrence)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import numpy as np

from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.base import LayerKind, Shape



class Dense(LayerKind):
    """``weight`` ``(out, in)``, optional ``bias`` per neuron, optional ``delay`` (scalar, per output or per synapse)."""

    name = "dense"
    synaptic = True
    has_neuron = True

    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        out = math.prod(shape)
        if isinstance(raw.get("weight"), dict):  # a complex (RF) layer: weight/real and weight/imag
            for key in ("bias", "delay"):
                if key in raw:
                    raise reader.fail(index, key, "netx ignores the bias and delay of a complex (weight/real, "
                                                  "weight/imag) layer; remove it")
            parts = [self._matrix(reader, raw["weight"], part, index, out, prev, "weight/") for part in ("real", "imag")]
            if parts[0].shape != parts[1].shape:
                raise reader.fail(index, "weight/imag", f"shape {parts[1].shape} differs from weight/real "
                                                        f"{parts[0].shape}")
            weight, fields = parts[0], {"weight_imag": parts[1]}
        else:
            weight = self._matrix(reader, raw, "weight", index, out, prev)
            fields = {"delay": reader.delay(raw, index, tuple({out, weight.shape[1]}), weight.shape)}
        for key, expect in (("inFeatures", weight.shape[1]), ("outFeatures", out)):
            value = reader.scalar(raw, key, index, default=expect)
            if value != expect:
                raise reader.fail(index, key, f"{value} does not match the weight shape {weight.shape}")
        fields["weight"] = weight
        if prev is None:
            fields["input_shape"] = (int(weight.shape[1]),)
        return fields

    @staticmethod
    def _matrix(reader, raw, key: str, index: int, out: int, prev: Optional[Shape], prefix: str = "") -> np.ndarray:
        """An ``(out, in)`` weight (a 1-D one is reshaped as netx does) that fits the previous layer."""
        weight = reader.weight(raw, key, index, (1, 2), prefix)
        weight = weight.reshape(out, -1) if weight.ndim == 1 and weight.size % out == 0 else weight
        if weight.ndim != 2 or weight.shape[0] != out:
            raise reader.fail(index, prefix + key, f"expected ({out}, in) for {out} outputs, found {weight.shape}")
        if prev is not None and weight.shape[1] != math.prod(prev):
            raise reader.fail(index, prefix + key, f"{weight.shape[1]} inputs do not match the previous output "
                                                   f"{prev} ({math.prod(prev)} values)")
        return weight

    def link(self, reader, raw, spec, layers) -> Dict[str, Any]:
        rf = spec.neuron is not None and spec.neuron.is_rf
        if rf != (spec.weight_imag is not None):
            raise reader.fail(spec.index, "neuron/type" if rf else "weight",
                              "an RF neuron group needs complex weights (weight/real, weight/imag) and complex "
                              "weights need an RF neuron group")
        return {}

    def netx_values(self, layer) -> Dict[str, Any]:
        values = super().netx_values(layer)
        if layer.weight_imag is not None:  # netx looks up "weight/imag" in the layer group itself
            values.update({"weight/real": layer.weight, "weight/imag": layer.weight_imag})
            return values
        for key in ("weight", "weight_rec", "bias", "delay"):
            if getattr(layer, key) is not None:
                values[key] = getattr(layer, key)
        if layer.delay is not None and not np.any(layer.delay):
            del values["delay"]  # all-zero delays: a plain Dense, as the simulator runs it
        return values

    def compile(self, spec, net, neuron):
        from lava_ternary.sim.layers import SimLayer, lava_dense_weights

        fields: Dict[str, Any] = {}
        delay = self._sim_delay(spec)
        if spec.weight_imag is not None:  # the imaginary synapse, to the RF neuron's second input
            weight, exp = lava_dense_weights(spec.weight_imag)
            fields["imag"] = SimLayer(index=spec.index, type=self.name, in_shape=tuple(spec.input_shape),
                                      out_shape=tuple(spec.shape), weight=weight, weight_exp=exp).precompute()
        weight, exp = lava_dense_weights(spec.weight)
        if delay is not None and not neuron.restart:
            fields["synapse_delay"] = delay  # stock neurons: Lava's DelayDense over the stream
            delay = None
        elif delay is not None and delay.ndim != 1:
            raise NetxFormatError(net.path, spec.index, "delay", "the simulator delays TERNARY dense layers with one "
                                  "delay per output neuron (the file has one per synapse)")
        return SimLayer(index=spec.index, type=self.name, in_shape=tuple(spec.input_shape), out_shape=tuple(spec.shape),
                        weight=weight, weight_exp=exp, delay=delay, neuron=neuron, **fields)

    @staticmethod
    def _sim_delay(spec) -> Optional[np.ndarray]:
        """Delays as Lava runs them: one per output neuron ``(N,)`` where they are, else per synapse ``(N, N_in)``."""
        if spec.delay is None or not np.any(spec.delay != 0):
            return None
        from lava_ternary.sim.stock import netx_delays

        matrix = netx_delays(spec.delay, spec.weight.shape)
        rows = matrix[:, :1]
        return rows[:, 0].copy() if np.all(matrix == rows) else matrix

    def sums(self, layer, m: np.ndarray, in_max: float):
        from lava_ternary.sim.synapse import dense_sums

        return dense_sums(layer, m, in_max)

    def synaptic_input(self, layer, run):
        if layer.imag is not None:
            return run.complex(layer)
        if layer.synapse_delay is not None:
            return run.stream_delayed(layer)
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

    def connect(self, network, layer, blocks) -> None:
        """lava-dl #372: stock netx gives the recurrent synapse the layer's *input* message bits; a TERNARY layer's
        own signed spikes need its own (2) bits, or a -1 fed back after a 0-bit input counts as +1. Stock neuron
        groups keep stock netx's wiring (a stock file builds what stock netx builds)."""
        if layer.is_ternary:
            block = blocks[layer.index]
            block.synapse_rec.num_message_bits.init = block.output_message_bits

    def worst_input(self, layer) -> int:  # the fed-back spikes add to the same neurons
        weight = np.abs(np.hstack([layer.weight, layer.weight_rec]).astype(np.int64)) << max(layer.weight_exp, 0)
        return int(weight.sum(axis=1).max())

    def compile(self, spec, net, neuron):
        import dataclasses

        from lava_ternary.sim.stream import recurrent

        layer = super().compile(spec, net, neuron)
        return dataclasses.replace(layer, neuron=recurrent(layer, spec, net))
