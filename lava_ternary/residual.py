"""The paper's basic residual block of Ternary neurons, deployable as a netx graph (``concat`` layer).

``Residual`` computes ``y = ternary(conv2(ternary(conv1(x))) + shortcut(x))``: two 3x3 conv synapses
on the main path and a 1x1 conv shortcut synapse (identity: a fixed unit kernel; projection: learnt,
for a stride or a channel change) whose synaptic inputs are summed into **one** neuron group. Each
synapse hop costs one step (slayer ``delay_shift``, Lava's synaptic buffer), and the main path has one
neuron group more than the shortcut, so the shortcut synapse carries an axonal delay of one step: both
branches reach the output neurons in the same step. The torch forward feeds the shortcut ``x`` delayed
by one step, which is exactly what Lava runs (``docs/netx_schema.md``, "Graph networks").

Folding: the shortcut synapse folds the learnt amplitude of the spikes it receives (``input_amplitude``)
into its 8-bit weights like every weighted block (:mod:`lava_ternary.fold`); an identity shortcut's unit
kernel is fixed, its amplitude still learns. The block's bias (``bias=True``, per channel, on ``conv2``)
is where a batch norm's shift folds; the blocks train without batch norm.

Export writes two netx layers: ``conv1`` as a plain ``conv`` layer and ``conv2`` as a ``concat`` layer
(every ``conv`` key, plus ``inputs``, ``shortcutWeight`` and ``shortcutStride``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import h5py
import numpy as np
import torch
from lava.lib.dl.slayer.block import base

from lava_ternary import block as tblock

__all__ = ["Residual"]


class Residual(torch.nn.Module):
    """Basic block ``ternary(conv2(ternary(conv1(x))) + shortcut(x))``; the shortcut is delayed one step.

    Parameters
    ----------
    params : dict
        Neuron parameters of both neuron groups (``lava_ternary.neuron.Ternary`` arguments).
    in_ch, out_ch : int
        Input and output channels.
    stride : int
        Stride of ``conv1`` and of the shortcut.
    amp : dict, optional
        Block arguments of blocks that receive spikes (``{'input_amplitude': 'layer'}`` for learnt amplitudes).
    projection : bool, optional
        Learnt 1x1 projection shortcut; default: only when the stride or the channel count changes.
    """

    latency_steps = 2

    def __init__(self, params: Dict[str, Any], in_ch: int, out_ch: int, stride: int = 1,
                 amp: Optional[Dict[str, Any]] = None, projection: Optional[bool] = None):
        super().__init__()
        amp = dict(amp or {})
        self.projection = bool(stride != 1 or in_ch != out_ch) if projection is None else bool(projection)
        if not self.projection and (stride != 1 or in_ch != out_ch):
            raise ValueError(f"Residual: an identity shortcut needs stride 1 and in_ch == out_ch, got stride={stride}, "
                             f"{in_ch} -> {out_ch}")
        self.conv1 = tblock.Conv(params, in_ch, out_ch, 3, stride=stride, padding=1, weight_scale=2, **amp)
        self.conv2 = tblock.Conv(params, out_ch, out_ch, 3, padding=1, weight_scale=2, **amp)
        self.shortcut = tblock.Conv(params, in_ch, out_ch, 1, stride=stride, weight_scale=2, **amp)
        if not self.projection:
            eye = torch.eye(out_ch).reshape(self.shortcut.synapse.weight.shape)
            self.shortcut.synapse.weight.data.copy_(eye)
            self.shortcut.synapse.weight.requires_grad_(False)
        del self.shortcut.neuron  # only its synapse (and amplitude) is used: its sum goes to conv2's neurons
        self.shortcut.neuron = None

    # ------------------------------------------------------------------ shapes
    def infer_shape(self, previous_shape: Optional[Tuple[int, ...]]) -> None:
        """Take the input shape from the block before (:func:`lava_ternary.block.propagate_shapes`)."""
        self.conv1.infer_shape(previous_shape)
        self.conv2.infer_shape(self.conv1.known_shape)

    @property
    def known_shape(self) -> Optional[torch.Size]:
        """Output shape if known, else None."""
        return self.conv2.known_shape

    # ------------------------------------------------------------------ forward
    def layer_outputs(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The spikes of both neuron groups ``[a, y]`` (``y`` is the block output)."""
        a = self.conv1(x)
        skip = torch.nn.functional.pad(x, (1, 0))[..., :x.shape[-1]]  # one step of axonal delay
        z = self.conv2.synapse(a) + self.shortcut.synapse(skip)
        y = self.conv2.neuron(z, self.conv2.quantized_bias())
        if self.conv2.delay_shift:
            y = base.step_delay(self.conv2, y)
        return [a, y]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[N, C_out, H', W', T]`` for input spikes ``[N, C_in, H, W, T]``."""
        return self.layer_outputs(x)[-1]

    # ------------------------------------------------------------------ export
    def export_layers(self, group: h5py.Group, index: int) -> int:
        """Write ``conv1`` as layer ``index`` and the ``concat`` layer ``index + 1``; return the next free index.

        The block input is layer ``index - 1`` (the layer written before this block).
        """
        if index < 1:
            raise ValueError("Residual: a residual block cannot be the first layer (its shortcut needs a source)")
        self.conv1.export_hdf5(group.create_group(str(index)))
        handle = group.create_group(str(index + 1))
        self.conv2.export_hdf5(handle)
        del handle["type"]
        tblock._write_type(handle, "concat")
        handle.create_dataset("inputs", data=np.array([index, index - 1], dtype=np.int64))
        handle.create_dataset("shortcutWeight", data=self.shortcut._mantissas()[..., 0])
        handle.create_dataset("shortcutStride", data=np.array(self.shortcut.synapse.stride[:-1]))
        return index + 2
