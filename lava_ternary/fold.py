"""Amplitude folding: the spike amplitude ``a`` of a neuron moves into the weights of the block it feeds.

Eq. 17 of the paper: ``K * (a B) = (a K) * B``. The fold happens *during training*, inside the
consuming block's synapse ``pre_hook_fx``: once :func:`link` has set a weighted block's
``input_amplitude`` to the neuron that feeds it, the block's forward

- recovers the exact ternary input ``b = sign(x)`` from ``x = a b`` (exact because ``a > 0``), with a
  straight-through term so that the gradient with respect to ``x`` stays ``dL/db / a``;
- convolves ``b`` with the folded weight ``quantize_8bit(a · W)`` (per-channel amplitudes are
  expanded along the weight's input axis, including a dense layer after a flatten of ``C×H×W`` and
  grouped convolutions).

:func:`folded_weight` returns that weight; export writes ``folded_weight(block) · 64`` as the integer
mantissas. What is exact: the exported integers are the very values the forward pass used (same
function on the same tensors), and the synaptic sums of ternary ``b`` with those weights are exact in
float32, so training and the deployed integer network see identical synaptic input. The only
approximation is the gradient of the 8-bit rounding (straight-through). Without :func:`link`, blocks
behave like plain slayer blocks and treat their input as the real values ``a · b``.
"""
from __future__ import annotations

from typing import Iterable, List, Optional

import torch
from torch.nn.utils.weight_norm import WeightNorm

__all__ = ["link", "folded_weight", "fold_amplitude", "expand_amplitude", "current_weight"]


def expand_amplitude(amplitude: torch.Tensor, weight_shape: torch.Size, groups: int = 1) -> torch.Tensor:
    """Shape a ``(1,)`` or ``(C_in,)`` amplitude so that it multiplies a slayer weight ``(out, in/g, ...)``.

    Parameters
    ----------
    amplitude : torch.Tensor
        Per-layer ``(1,)`` or per-input-channel ``(C,)`` amplitude.
    weight_shape : torch.Size
        Synapse weight shape ``(out, in_per_group, kH, kW, 1)``.
    groups : int
        Convolution groups of the synapse.
    """
    trailing = (1,) * (len(weight_shape) - 2)
    if amplitude.numel() == 1:
        return amplitude.reshape((1, 1) + trailing)
    out_channels, in_per_group = int(weight_shape[0]), int(weight_shape[1])
    in_features = in_per_group * groups
    channels = amplitude.numel()
    if in_features == 1:
        raise ValueError(f"a per-channel amplitude ({channels} channels) cannot fold into a kernel shared by "
                         f"all channels (Pool); use amplitude_shape='layer' before a Pool")
    if groups == 1 and in_features != channels:
        if in_features % channels:
            raise ValueError(f"amplitude: {channels} channels cannot feed {in_features} input features")
        # dense after a flatten of (C, H, W): every channel covers H*W consecutive features
        return amplitude.repeat_interleave(in_features // channels).reshape((1, in_features) + trailing)
    if in_features != channels:
        raise ValueError(f"amplitude: {channels} channels do not match {in_features} input channels")
    group = torch.arange(out_channels, device=amplitude.device) // (out_channels // groups)
    index = group[:, None] * in_per_group + torch.arange(in_per_group, device=amplitude.device)[None, :]
    return amplitude[index].reshape((out_channels, in_per_group) + trailing)


def fold_amplitude(weight: torch.Tensor, amplitude: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``a · W`` with the amplitude expanded along the weight's input axis (not quantised)."""
    return weight * expand_amplitude(amplitude, weight.shape, groups)


def current_weight(synapse: torch.nn.Module) -> torch.Tensor:
    """The synapse's float weight, recomputed from ``g, v`` when weight normalisation is on."""
    if getattr(synapse, "weight_norm_enabled", False):
        for hook in synapse._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                return hook.compute_weight(synapse)
    return synapse.weight


def folded_weight(block: torch.nn.Module) -> torch.Tensor:
    """The effective (folded, quantised) weight a block's forward uses, in slayer float units.

    ``folded_weight(block) * 64`` are the integer weight mantissas of the exported layer.
    """
    synapse = block.synapse
    weight = current_weight(synapse)
    hook = synapse.pre_hook_fx
    return weight if hook is None else hook(weight)


def _is_weighted(block: torch.nn.Module) -> bool:
    return hasattr(block, "input_amplitude") and getattr(block, "synapse", None) is not None


def link(blocks: Iterable[torch.nn.Module]) -> List[Optional[torch.nn.Module]]:
    """Set each weighted block's ``input_amplitude`` to the neuron of the nearest spiking block before it.

    Flatten blocks are skipped (they keep the ternary values); any other block without a spiking
    neuron (Average, Affine readout, a neuron-less Input) breaks the chain. Idempotent. Also fills a
    Flatten's shape from the block before it when that is known, so export needs no forward pass.

    Parameters
    ----------
    blocks : iterable of torch.nn.Module
        The network's blocks in order (e.g. an ``nn.ModuleList``).

    Returns
    -------
    list
        The ``input_amplitude`` now set on each block (``None`` where not weighted or not linked).
    """
    linked: List[Optional[torch.nn.Module]] = []
    source: Optional[torch.nn.Module] = None
    previous_shape = None
    for index, block in enumerate(blocks):
        amplitude_source = None
        if _is_weighted(block):
            block.input_amplitude = source
            amplitude_source = source
            try:
                folded_weight(block)
            except ValueError as error:
                block.input_amplitude = None
                raise ValueError(f"block {index} ({type(block).__name__}): {error}") from error
        if hasattr(block, "link_shape"):
            block.link_shape(previous_shape)
        neuron = getattr(block, "neuron", None)
        if getattr(block, "is_flatten", False):
            pass
        elif neuron is not None and getattr(block, "emits_spikes", False):
            source = neuron
        else:
            source = None
        previous_shape = getattr(block, "known_shape", None)
        linked.append(amplitude_source)
    return linked
