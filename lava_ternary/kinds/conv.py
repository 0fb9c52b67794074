"""``conv`` and ``pool``: a 2-D convolution over (C, H, W) (a pool is a depthwise conv with one shared weight)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.base import LayerKind, Shape

#: Bits of Lava's (and Loihi's) convolution accumulator.
CONV_ACCUM_BITS = 24


class Conv(LayerKind):
    """``weight`` ``(C_out, C_in/groups, kH, kW)`` with ``stride``/``padding``/``dilation``/``groups``; bias per
    channel or per neuron. Axis pairs are (H, W) in the records, (W, H) in netx's view."""

    name = "conv"
    synaptic = True
    has_neuron = True
    convolutional = True
    accum_bits = CONV_ACCUM_BITS
    pool = False

    # ------------------------------------------------------------------ reader
    def read(self, reader, raw, index: int, shape: Shape, prev: Optional[Shape]) -> Dict[str, Any]:
        reader.need_prev(index, prev)
        if len(prev) != 3 or len(shape) != 3:
            raise reader.fail(index, "shape", f"conv/pool layers need (C, H, W) shapes, found input {prev} and "
                                              f"output {shape}")
        weight = reader.weight(raw, "weight", index, (4, 5))
        if weight.ndim == 5:
            if weight.shape[4] != 1:
                raise reader.fail(index, "weight", f"a 5-D weight must end in 1, found {weight.shape}")
            weight = weight[..., 0]
        kernel = (int(weight.shape[2]), int(weight.shape[3]))
        if "kernelSize" in raw and reader.pair(raw, "kernelSize", index, lo=1) != kernel:
            raise reader.fail(index, "kernelSize", f"{reader.pair(raw, 'kernelSize', index)} does not match the "
                                                   f"weight {weight.shape}")
        stride, padding, dilation = self._geometry(reader, raw, index, kernel)
        groups = self._groups(reader, raw, index, weight, shape, prev[0])
        out_hw = tuple((prev[1 + a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
                       for a in range(2))
        if tuple(shape[1:]) != out_hw:
            raise reader.fail(index, "shape", f"expected output (H, W) = {out_hw} from input {prev}, kernel {kernel}, "
                                              f"stride {stride}, padding {padding}, dilation {dilation}; found "
                                              f"{shape[1:]}")
        return {"weight": weight, "kernel_size": kernel, "stride": stride, "padding": padding,
                "dilation": dilation, "groups": groups,
                "delay": reader.delay(raw, index, (shape[0], math.prod(shape)))}

    def _geometry(self, reader, raw, index: int, kernel: Tuple[int, int]):
        # stock netx reads stride/padding/dilation/groups of a conv without defaults: they are required there
        return (reader.pair(raw, "stride", index, lo=1), reader.pair(raw, "padding", index),
                reader.pair(raw, "dilation", index, lo=1))

    def _groups(self, reader, raw, index: int, weight: np.ndarray, shape: Shape, c_in: int) -> int:
        groups = reader.scalar(raw, "groups", index, lo=1, hi=c_in)
        if c_in % groups or weight.shape[0] % groups or weight.shape[1] * groups != c_in:
            raise reader.fail(index, "weight", f"weight {weight.shape} with groups={groups} does not fit {c_in} "
                                               "input channels")
        if weight.shape[0] != shape[0]:
            raise reader.fail(index, "weight", f"{weight.shape[0]} output channels do not match shape {shape}")
        for key, expect in (("inChannels", c_in), ("outChannels", shape[0])):
            value = reader.scalar(raw, key, index, default=expect)
            if value != expect:
                raise reader.fail(index, key, f"{value} does not match {expect}")
        return groups

    # ------------------------------------------------------------------ Lava loader
    def kernel(self, layer) -> np.ndarray:
        """The convolution kernel Lava runs (a pool's one weight broadcast to a depthwise kernel)."""
        return layer.weight

    def netx_values(self, layer) -> Dict[str, Any]:
        values = {"type": "conv", "shape": np.array(layer.shape), "weight": self.kernel(layer),
                  "groups": np.int64(layer.groups), "stride": np.array(layer.stride),
                  "padding": np.array(layer.padding), "dilation": np.array(layer.dilation)}
        if layer.bias is not None:  # per neuron: netx wants (W, H, C)
            values["bias"] = layer.bias if layer.bias.size == layer.channels else \
                layer.bias.reshape(layer.shape).transpose(2, 1, 0)
        if layer.delay is not None and np.any(layer.delay):
            values["delay"] = layer.delay
        return values

    # ------------------------------------------------------------------ simulator
    def compile(self, spec, net, neuron):
        from lava_ternary.sim.layers import SimLayer

        if spec.delay is not None and np.any(spec.delay != 0):
            raise NetxFormatError(net.path, spec.index, "delay", "the simulator delays TERNARY dense layers with one "
                                  "delay per output neuron (netx ignores a conv layer's delay)")
        return SimLayer(index=spec.index, type=self.name, in_shape=tuple(spec.input_shape), out_shape=tuple(spec.shape),
                        weight=self.kernel(spec), stride=spec.stride, padding=spec.padding, dilation=spec.dilation,
                        groups=spec.groups, neuron=neuron, **self.extra(spec, net, neuron))

    def extra(self, spec, net, neuron) -> Dict[str, Any]:
        """Further :class:`~lava_ternary.sim.layers.SimLayer` fields of the kind (none for a plain conv)."""
        return {}

    def sums(self, layer, m: np.ndarray, in_max: float):
        from lava_ternary.sim.synapse import conv_sums

        return conv_sums(layer, m, in_max)

    # ------------------------------------------------------------------ report
    def fan_out(self, layer) -> np.ndarray:
        import torch

        x = torch.zeros((1,) + tuple(layer.in_shape), dtype=torch.float64, requires_grad=True)
        ones = torch.ones(layer.weight.shape, dtype=torch.float64)
        y = torch.nn.functional.conv2d(x, ones, stride=tuple(layer.stride), padding=tuple(layer.padding),
                                       dilation=tuple(layer.dilation), groups=int(layer.groups))
        y.sum().backward()
        return np.rint(x.grad[0].numpy()).astype(np.int64)

    def fan_in(self, layer) -> int:
        return int(np.prod(layer.weight.shape[1:]))

    def worst_input(self, layer) -> int:
        weight = np.abs(self.kernel(layer).astype(np.int64)) << max(layer.weight_exp, 0)
        return int(weight.sum(axis=(1, 2, 3)).max())

    def geometry(self, layer) -> List[Any]:
        return [layer.kernel_size[::-1], layer.stride[::-1], layer.padding[::-1], layer.dilation[::-1], layer.groups]


class Pool(Conv):
    """``pool``: ``weight`` ``(1, 1, kH, kW)`` holding one value; stride defaults to the kernel, no padding."""

    name = "pool"
    pool = True

    def _geometry(self, reader, raw, index: int, kernel: Tuple[int, int]):
        stride = reader.pair(raw, "stride", index, default=kernel[0], lo=1) if "stride" in raw else kernel
        return (stride, reader.pair(raw, "padding", index, default=0),
                reader.pair(raw, "dilation", index, default=1, lo=1))

    def _groups(self, reader, raw, index: int, weight: np.ndarray, shape: Shape, c_in: int) -> int:
        if weight.shape[:2] != (1, 1) or np.any(weight != weight.reshape(-1)[0]):
            raise reader.fail(index, "weight", f"a pool weight must be (1, 1, kH, kW) with one value, found "
                                               f"{weight.shape}")
        if shape[0] != c_in:
            raise reader.fail(index, "shape", f"pooling keeps the {c_in} channels, found {shape}")
        return c_in

    def kernel(self, layer) -> np.ndarray:
        return np.broadcast_to(layer.weight, (layer.channels, 1) + tuple(layer.weight.shape[2:])).astype(np.int64)
