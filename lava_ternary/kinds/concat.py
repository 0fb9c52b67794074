"""``concat`` (graph extension): a conv whose neuron group also integrates a 1x1 shortcut synapse from an earlier layer.

Keys beside the conv's: ``inputs`` = ``[previous layer, shortcut source]``, ``shortcutWeight``
``(C_out, C_in, 1, 1)`` and ``shortcutStride`` (H, W). The shortcut is delayed by the number of neuron
groups on the main path since the source, so both branches reach the neuron group in the same step
(``docs/netx_schema.md``). Stock netx refuses a ``concat`` layer (``NotImplementedError``), so a graph
file never silently builds a different network there.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.conv import Conv

#: Largest shortcut delay (netx's axonal delay range).
MAX_DELAY = 62


class Concat(Conv):
    """Residual add of synaptic inputs into one neuron group: the main conv plus the delayed 1x1 shortcut."""

    name = "concat"

    def link(self, reader, raw, spec, layers: List) -> Dict[str, Any]:
        index = spec.index
        inputs = reader.ints(raw, "inputs", index, ndim=(1,))
        if inputs.size != 2 or int(inputs[0]) != index - 1 or not 0 <= int(inputs[1]) < index - 1:
            raise reader.fail(index, "inputs", f"expected [{index - 1}, source] with 0 <= source < {index - 1} (the "
                                               f"previous layer and the shortcut source), found {inputs.tolist()}")
        source = layers[int(inputs[1])]
        if source.neuron is None or len(source.shape) != 3:
            raise reader.fail(index, "inputs", f"shortcut source layer {source.index} ({source.type}) must be a conv-"
                                               "shaped layer with a neuron group")
        if spec.neuron is None or not spec.is_ternary or not source.is_ternary or not layers[index - 1].is_ternary:
            raise reader.fail(index, "neuron", "a concat layer and both its input layers need TERNARY neuron groups "
                                               "(they restart together, so both branches keep their timing)")
        weight = reader.weight(raw, "shortcutWeight", index, (4,))
        if weight.shape != (spec.channels, source.channels, 1, 1):
            raise reader.fail(index, "shortcutWeight", f"expected ({spec.channels}, {source.channels}, 1, 1) from "
                                                       f"source {source.shape} to {spec.shape}, found {weight.shape}")
        stride = reader.pair(raw, "shortcutStride", index, lo=1)
        out_hw = tuple((source.shape[1 + a] - 1) // stride[a] + 1 for a in range(2))
        if out_hw != tuple(spec.shape[1:]):
            raise reader.fail(index, "shortcutStride", f"stride {stride} maps source (H, W) {source.shape[1:]} to "
                                                       f"{out_hw}, not {spec.shape[1:]}")
        delay = sum(1 for layer in layers[int(inputs[1]) + 1:index] if layer.neuron is not None)
        if not 1 <= delay <= MAX_DELAY:
            raise reader.fail(index, "inputs", f"the main path from layer {source.index} has {delay} neuron groups; "
                                               f"expected 1..{MAX_DELAY}")
        return {"inputs": tuple(int(i) for i in inputs), "shortcut_weight": weight, "shortcut_stride": stride,
                "shortcut_delay": delay}

    # ------------------------------------------------------------------ Lava loader
    @staticmethod
    def shortcut_matrix(layer, source_shape) -> Any:
        """The 1x1 shortcut convolution as a sparse ``(N_out, N_in)`` matrix in Lava's order.

        Both sides are flattened C-order from Lava's (W, H, C) shapes, as ``OutPort.flatten`` and
        ``reshape`` see them.
        """
        from scipy.sparse import csr_matrix

        c_out, c_in = layer.shortcut_weight.shape[:2]
        height, width = layer.shape[1:]
        src_h = source_shape[1]
        stride_h, stride_w = layer.shortcut_stride
        x, y, co, ci = np.meshgrid(np.arange(width), np.arange(height), np.arange(c_out), np.arange(c_in),
                                   indexing="ij")
        rows = ((x * height + y) * c_out + co).reshape(-1)
        cols = ((x * stride_w * src_h + y * stride_h) * c_in + ci).reshape(-1)
        data = layer.shortcut_weight[co, ci, 0, 0].reshape(-1)
        keep = data != 0
        size_in = int(np.prod(source_shape))
        return csr_matrix((data[keep], (rows[keep], cols[keep])), shape=(layer.size, size_in), dtype=np.int64)

    def connect(self, network, layer, blocks: Dict[int, Any]) -> None:
        """A delayed sparse synapse from the shortcut source into this layer's neuron group.

        The neuron group's InPort sums it with the block's own synapse (Lava sums every OutPort connected to
        an InPort), so both branches drive one neuron group, as on Loihi 2.
        """
        from lava.proc.sparse.process import DelaySparse

        source = blocks.get(layer.inputs[1])
        if source is None:
            raise NetxFormatError(network.filename, layer.index, "inputs", f"shortcut source layer {layer.inputs[1]} "
                                  f"is not built (skip_layers={network.skip_layers}); load the whole graph")
        source_spec = network.spec.layers[layer.inputs[1]]
        weights = self.shortcut_matrix(layer, source_spec.shape)
        if weights.nnz == 0:
            return  # an all-zero shortcut adds nothing
        delays = weights.copy()
        delays.data[:] = layer.shortcut_delay
        target = blocks[layer.index].neuron
        synapse = DelaySparse(weights=weights, delays=delays, num_message_bits=source_spec.neuron.message_bits,
                              weight_exp=0, num_weight_bits=8, name=f"shortcut{layer.index}")
        source.out.flatten().connect(synapse.s_in)
        synapse.a_out.reshape(target.a_in.shape).connect(target.a_in)
        network.extra_synapses.append(synapse)

    # ------------------------------------------------------------------ simulator
    def extra(self, spec, net, neuron) -> Dict[str, Any]:
        from lava_ternary.sim.layers import Shortcut, SimLayer, lava_sparse_weights

        source = net.layers[spec.inputs[1]]
        synapse = SimLayer(index=spec.index, type="conv", in_shape=tuple(int(s) for s in source.shape),
                           out_shape=tuple(spec.shape), weight=lava_sparse_weights(spec.shortcut_weight),
                           stride=spec.shortcut_stride, neuron=neuron).precompute()
        return {"shortcut": Shortcut(source=source.index, delay=spec.shortcut_delay, synapse=synapse)}

    def synaptic_input(self, layer, run):
        return run.graph(layer)

    # ------------------------------------------------------------------ report
    def edges(self, layer) -> List:
        return super().edges(layer) + [(layer.shortcut.source, layer.shortcut.synapse)]

    def worst_input(self, layer) -> int:  # both synapse groups feed the same neurons
        return super().worst_input(layer) + int(np.abs(layer.shortcut_weight).sum(axis=(1, 2, 3)).max())

    def describe(self, layer) -> str:
        return (f" inputs={list(layer.inputs)} (shortcut from {layer.inputs[1]}: 1x1 stride "
                f"{layer.shortcut_stride[::-1]} delay {layer.shortcut_delay})")
