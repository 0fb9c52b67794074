"""The interface every netx layer kind implements: one class per ``type`` of ``layer/<i>``.

A kind is the one home of everything that depends on a layer's ``type``: which keys the file holds and
how they are validated (:mod:`lava_ternary.netfile`), what stock netx is shown to build its Lava layer
(:mod:`lava_ternary.proc.network`), how the batched simulator computes its synaptic input
(:mod:`lava_ternary.sim`), and how many synapses, inputs and operations the report counts
(:mod:`lava_ternary.report`). Those modules iterate over layers and call the layer's kind; none of them
branches on a type string. Kinds are stateless singletons registered in :mod:`lava_ternary.kinds`.

The simulator and report methods import torch or the simulator lazily, so that reading a file
(``lava-ternary info``) stays free of both.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lava_ternary.netfile import LayerSpec, NetSpec, RawLayer, _Reader
    from lava_ternary.sim.layers import SimLayer, SimNeuron

Shape = Tuple[int, ...]


class LayerKind:
    """Base class of a layer kind; the defaults describe a layer without synapse or neuron (flatten).

    Attributes
    ----------
    name : str
        The file's ``type`` string.
    synaptic : bool
        The layer has weights and an optional bias (read by the shared reader code).
    has_neuron : bool
        The layer may carry a ``neuron`` group (and a weight exponent).
    convolutional : bool
        Its synapse is a convolution over (C, H, W) (shared kernels; 24-bit accumulation on Loihi).
    accum_bits : int
        Bits of the synaptic accumulator Lava wraps the sum to before the int32 channel.
    """

    name: str = ""
    synaptic: bool = False
    has_neuron: bool = False
    convolutional: bool = False
    accum_bits: int = 32

    # ------------------------------------------------------------------ reader (netfile)
    def read(self, reader: "_Reader", raw: "RawLayer", index: int, shape: Shape,
             prev: Optional[Shape]) -> Dict[str, Any]:
        """Validate the kind's own keys; return :class:`LayerSpec` fields (``input_shape`` may be updated)."""
        return {}

    def link(self, reader: "_Reader", raw: "RawLayer", spec: "LayerSpec",
             layers: List["LayerSpec"]) -> Dict[str, Any]:
        """Keys that refer to earlier layers (the graph extension), validated once those layers are read."""
        return {}

    # ------------------------------------------------------------------ Lava loader (proc.network)
    def netx_values(self, layer: "LayerSpec") -> Dict[str, Any]:
        """The ``layer/<i>`` keys stock netx reads to build this layer (validated values)."""
        return {"type": layer.type, "shape": np.array(layer.shape)}

    def builds(self, layer: "LayerSpec") -> bool:
        """True when stock netx builds a Lava block for this layer (one entry of ``Network.layers``)."""
        return self.synaptic

    def lava_refusal(self, layer: "LayerSpec") -> Optional[str]:
        """Why the Lava loader cannot build this layer (None: it can)."""
        return None

    def connect(self, network: Any, layer: "LayerSpec", blocks: Dict[int, Any]) -> None:
        """Extra Lava connections after stock netx built the blocks (``blocks``: file index -> block)."""

    # ------------------------------------------------------------------ simulator (sim)
    def compile(self, spec: "LayerSpec", net: "NetSpec", neuron: Optional["SimNeuron"]) -> Optional["SimLayer"]:
        """The simulator's record of this layer, or None when the simulator skips it."""
        from lava_ternary.sim.layers import SimLayer

        return SimLayer(index=spec.index, type=self.name, in_shape=_ints(spec.input_shape or spec.shape),
                        out_shape=_ints(spec.shape))

    def sums(self, layer: "SimLayer", m: np.ndarray, in_max: float) -> Tuple[np.ndarray, float]:
        """Exact synaptic sums ``[K, B, N]`` of time-major messages ``m`` and the bound that chose their precision."""
        raise ValueError(f"layer {layer.index}: no synapse for layer type {layer.type!r}")

    def synaptic_input(self, layer: "SimLayer", run: Any) -> Tuple[np.ndarray, np.ndarray, int]:
        """The input its neuron group integrates: ``(acc, slot, lag)`` for :func:`lava_ternary.sim.kernel.run_group`.

        ``run`` is the simulator's per-layer context (:class:`lava_ternary.sim.runner.LayerInput`); the default
        multiplies only the producer steps that are read (:meth:`~lava_ternary.sim.runner.LayerInput.framed`).
        """
        return run.framed(layer)

    # ------------------------------------------------------------------ report
    def fan_out(self, layer: "SimLayer") -> np.ndarray:
        """Structural connections leaving each input of the layer (shape ``in_shape``)."""
        raise ValueError(f"layer {layer.index}: {layer.type!r} has no synapse")

    def fan_in(self, layer: "SimLayer") -> int:
        """Largest number of inputs one of its neurons sums."""
        raise ValueError(f"layer {layer.index}: {layer.type!r} has no synapse")

    def edges(self, layer: "SimLayer") -> List[Tuple[Optional[int], "SimLayer"]]:
        """The synapse groups into the layer's neurons: ``(source file index or None for the previous layer,
        the SimLayer holding the synapse)``."""
        return [(None, layer)]

    def worst_input(self, layer: "LayerSpec") -> int:
        """Largest ``sum |w|`` into one neuron (weight-mantissa units) over all its synapse groups."""
        return 0

    def geometry(self, layer: "LayerSpec") -> List[Any]:
        """Kernel, stride, padding, dilation (netx's (W, H) order) and groups for the layer table (None: blank)."""
        return [None] * 5

    def describe(self, layer: "LayerSpec") -> str:
        """Extra text for the layer table (graph inputs)."""
        return ""


def _ints(values) -> Shape:
    return tuple(int(v) for v in values)
