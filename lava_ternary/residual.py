"""The paper's basic residual block of Ternary neurons, deployable as a netx graph (``concat`` layer).

``Residual`` computes ``y = ternary(conv2(ternary(conv1(x))) + shortcut(x))``: two 3x3 conv synapses
on the main path and a 1x1 conv shortcut synapse (identity: a fixed unit kernel; projection: learnt,
for a stride or a channel change) whose synaptic inputs are summed into **one** neuron group. Each
synapse hop costs one step (slayer ``delay_shift``, Lava's synaptic buffer), and the main path has one
neuron group more than the shortcut, so the shortcut synapse carries an axonal delay of one step: both
branches reach the output neurons in the same step. The torch forward feeds the shortcut ``x`` delayed
by one step, which is exactly what Lava runs (``docs/netx_schema.md``, "Graph networks").

Folding: every synapse folds the learnt amplitude of the spikes it receives (``input_amplitude``) into
its 8-bit weights like every weighted block (:mod:`lava_ternary.fold`); an identity shortcut's unit
kernel is fixed (no norm), its amplitude still learns. With ``norm=True`` (default) each conv (``conv1``,
``conv2``, a projection shortcut) has a :class:`StepNorm`: a batch norm of its synaptic input, folded
into the weight ``quantize_8bit(a · W · γ/σ)`` and a per-channel bias ``β`` in 1/64 steps (the two
branch biases of the output group add up) *in training as in eval*: the forward always computes with
the folded, quantised integers, training with the batch's ``σ`` and eval with the running one, so the
eval forward is the exported network spike for spike.

Why this norm and this initialisation (the block did not learn with a stock ``BatchNorm3d``):

- A network of ``L`` synapse hops runs ``T + L`` steps and a block's input carries the sample in only
  ``T`` of them. ``BatchNorm3d`` pools its statistics over all steps, so ``σ`` is that of a mostly-zero
  signal: at ResNet-20 depth (``T = 2`` of 23 steps) the normalised input at the sample's steps was
  ~3.4 times too large, 88 % of the neurons fired, every block acted as a random ternary projection
  that drowned the unit shortcut, and not even a retrained head could read the classes from the last
  features. :class:`StepNorm` takes the statistics over the steps where the block input carries spikes.
- It normalises the scale only (root mean square, no mean subtraction): a centring ``-μγ/σ`` is a
  bias that the deployed neuron integrates at *every* one of the ``T + L`` steps, which made the
  ternary neurons fire on the empty steps of the window (75 % of them at initialisation).
- ``conv2``'s ``γ`` starts at zero (the usual zero-initialised last norm of a residual block): every
  block starts as its shortcut, which carries the spikes through unchanged (unit weight > θ), so the
  features reach the head intact and the gradient learns the branches from there.

Export writes two netx layers: ``conv1`` as a plain ``conv`` layer and ``conv2`` as a ``concat`` layer
(every ``conv`` key, plus ``inputs``, ``shortcutWeight`` and ``shortcutStride``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import h5py
import numpy as np
import torch
from lava.lib.dl.slayer.block import base
from lava.lib.dl.slayer.utils import quantize

from lava_ternary import block as tblock
from lava_ternary import fold
from lava_ternary.fold import folded_weight
from lava_ternary.neuron import MAX_BIAS_MANT, W_SCALE

__all__ = ["Residual", "StepNorm"]


class StepNorm(torch.nn.Module):
    """Scale-only batch norm of a synaptic input over the steps that carry the sample; folded, never applied.

    ``z · γ/σ + β`` per output channel, ``σ = sqrt(mean(z²) + eps)`` over batch, space and the steps
    at which the synapse's *input* carries at least one spike (the rest of the ``T + latency`` window
    is silence, module docstring). Training uses the batch's ``σ`` and updates ``running_var`` (the
    running mean square); eval uses ``running_var``. The owner folds :meth:`scale` into its weights
    and adds ``bias`` to the neuron, so nothing here touches the spikes directly.

    Parameters
    ----------
    channels : int
        Output channels of the synapse.
    gamma : float
        Initial ``γ`` (0 for the last norm of a residual branch).
    momentum, eps : float
        As in ``torch.nn.BatchNorm3d``.
    """

    def __init__(self, channels: int, gamma: float = 1.0, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.full((channels,), float(gamma)))
        self.bias = torch.nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.momentum, self.eps = float(momentum), float(eps)

    def scale(self, z: Optional[torch.Tensor] = None, x: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``γ/σ`` per channel: from the batch (``z = W * x`` and its input ``x``, training) or the running value."""
        if z is None:
            return self.weight / torch.sqrt(self.running_var + self.eps)
        time = x.shape[-1]
        steps = x.detach().ne(0).movedim(-1, 0).reshape(time, -1).any(1)
        if not bool(steps.any()):
            steps = torch.ones_like(steps)
        active = z[..., steps]
        mean_square = active.pow(2).mean(dim=[d for d in range(active.dim()) if d != 1])
        with torch.no_grad():
            self.running_var.mul_(1 - self.momentum).add_(mean_square.detach() * self.momentum)
        return self.weight / torch.sqrt(mean_square + self.eps)


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
    norm : bool
        A :class:`StepNorm` per conv, folded into its weights and the output bias (``conv2``'s ``γ``
        starts at 0, so the block starts as its shortcut).
    """

    latency_steps = 2

    def __init__(self, params: Dict[str, Any], in_ch: int, out_ch: int, stride: int = 1,
                 amp: Optional[Dict[str, Any]] = None, projection: Optional[bool] = None, norm: bool = True):
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
        self.norm = bool(norm)
        self.bn1 = StepNorm(out_ch) if norm else None
        self.bn2 = StepNorm(out_ch, gamma=0.0) if norm else None
        self.bn_sc = StepNorm(out_ch) if norm and self.projection else None

    def _synapse(self, conv: torch.nn.Module, bn: Optional[StepNorm], x: torch.Tensor):
        """Synaptic input of one branch and its bias (None without norm): always the folded, quantised weights.

        Training folds the batch's ``γ/σ`` (:meth:`StepNorm.scale` of the plain synaptic input), eval
        the running one (:meth:`folded`, what export writes).
        """
        if bn is None:
            return conv.synapse(x), None
        scale = bn.scale(conv.synapse(x), x) if self.training else None
        weight, bias = self.folded(conv, bn, scale)
        syn = conv.synapse
        return torch.nn.functional.conv3d(x, weight, None, syn.stride, syn.padding, syn.dilation, syn.groups), bias

    @staticmethod
    def folded(conv: torch.nn.Module, bn: Optional[StepNorm], scale: Optional[torch.Tensor] = None):
        """Weight ``quantize_8bit(a · W · γ/σ)`` and bias ``β`` (float, unquantised) of a branch.

        ``scale`` is ``γ/σ`` (default: the running one, :meth:`StepNorm.scale`). Without norm: the
        block's own folded weight and no bias.
        """
        if bn is None:
            return folded_weight(conv), None
        scale = bn.scale() if scale is None else scale
        weight = fold.current_weight(conv.synapse) * scale.reshape((-1,) + (1,) * (conv.synapse.weight.dim() - 1))
        return conv._weight_hook(weight), bn.bias

    @staticmethod
    def _bias(*shifts: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The summed bias shifts as the neuron uses them: multiples of 1/64 in the 13-bit mantissa range."""
        present = [s for s in shifts if s is not None]
        if not present:
            return None
        return quantize(sum(present), step=1 / W_SCALE).clamp(-MAX_BIAS_MANT / W_SCALE, MAX_BIAS_MANT / W_SCALE)

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
        z, shift = self._synapse(self.conv1, self.bn1, x)
        a = self.conv1.neuron(z, self._bias(shift))
        if self.conv1.delay_shift:
            a = base.step_delay(self.conv1, a)
        skip = torch.nn.functional.pad(x, (1, 0))[..., :x.shape[-1]]  # one step of axonal delay
        main, shift2 = self._synapse(self.conv2, self.bn2, a)
        side, shift_sc = self._synapse(self.shortcut, self.bn_sc, skip)
        y = self.conv2.neuron(main + side, self._bias(shift2, shift_sc))
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
        with torch.no_grad():
            w1, t1 = self.folded(self.conv1, self.bn1)
            w2, t2 = self.folded(self.conv2, self.bn2)
            wsc, tsc = self.folded(self.shortcut, self.bn_sc)
            first = group.create_group(str(index))
            self.conv1.export_hdf5(first)
            _write_folded(first, w1, self._bias(t1))
            handle = group.create_group(str(index + 1))
            self.conv2.export_hdf5(handle)
            _write_folded(handle, w2, self._bias(t2, tsc))
            del handle["type"]
            tblock._write_type(handle, "concat")
            handle.create_dataset("inputs", data=np.array([index, index - 1], dtype=np.int64))
            handle.create_dataset("shortcutWeight", data=_mantissas(wsc))
            handle.create_dataset("shortcutStride", data=np.array(self.shortcut.synapse.stride[:-1]))
        return index + 2


def _mantissas(weight: torch.Tensor) -> np.ndarray:
    """Integer conv weight mantissas ``(C_out, C_in/g, kH, kW)`` of a folded slayer weight (float32 storage)."""
    mant = (weight.detach() * W_SCALE).cpu().numpy()[..., 0]
    if not np.array_equal(mant, np.round(mant)):
        raise ValueError("Residual: folded weights are not integer mantissas; export needs a quantising pre_hook_fx")
    return mant.astype(np.float32)


def _write_folded(handle: h5py.Group, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> None:
    """Replace a written layer's weight by the batch-norm-folded one and write the folded bias mantissas."""
    del handle["weight"]
    handle.create_dataset("weight", data=_mantissas(weight))
    if bias is not None:
        if "bias" in handle:
            del handle["bias"]
        handle.create_dataset("bias", data=np.round(bias.detach().cpu().numpy() * W_SCALE).astype(np.int64))
