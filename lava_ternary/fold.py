"""Amplitude folding in the consumer: each weighted block owns the amplitude of the spikes it receives.

Eq. 17 of the paper, read right to left: ``K * (a B) = (a K) * B``. A Ternary neuron always emits
the plain spike ``b`` in {-1, 0, +1}. A weighted block built with ``input_amplitude='layer'`` (one
``a``, the paper) or ``'channel'`` (one ``a`` per input channel) holds ``a`` as its own parameter
``block.input_amplitude`` and convolves ``b`` with ``quantize_8bit(a · W)`` (per-channel amplitudes are
expanded along the weight's input axis: grouped convolutions, and a dense block after a flatten of
``C×H×W``, whose ``amplitude_channels=C`` makes each channel cover ``H·W`` consecutive inputs).

Nothing links blocks: the fold is local to the block, so any composition (a ``ModuleList`` with a loop
forward, ``nn.Sequential``, a plain list, one producer feeding two consumers, each with its own ``a``)
trains exactly the function that deploys, from the first forward and after ``load_state_dict``.
:func:`folded_weight` is the weight the forward uses; export writes ``folded_weight(block) · 64`` as
the integer mantissas, so the exported integers are the very values of the forward pass, and the
synaptic sums of ternary ``b`` with them are exact in float32. The only approximation is the gradient
of the 8-bit rounding (straight-through).

Checkpoints of earlier versions kept ``a`` on the neuron that fires (``<block>.neuron.amplitude``);
:func:`migrate_state_dict` moves each such value to the block that received those spikes.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from torch.nn.utils.weight_norm import WeightNorm

__all__ = ["folded_weight", "fold_amplitude", "expand_amplitude", "current_weight", "migrate_state_dict"]


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
                         f"all channels (Pool); use input_amplitude='layer' on a Pool")
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


def _is_producer(module: torch.nn.Module) -> bool:
    """A block whose output is the spikes of a neuron (what an old checkpoint's amplitude scaled)."""
    return getattr(module, "neuron", None) is not None and bool(getattr(module, "emits_spikes", False))


def _chains(model: torch.nn.Module) -> Iterator[Tuple[str, str]]:
    """``(producer name, consumer name)`` for every spiking block and the weighted block it feeds.

    The rule of the earlier versions' ``link``: within each ``ModuleList``/``Sequential``, a Flatten is
    skipped and any other block that is neither spiking nor weighted ends the chain.
    """
    for name, container in model.named_modules():
        if not isinstance(container, (torch.nn.ModuleList, torch.nn.Sequential)):
            continue
        source: Optional[str] = None
        for child_name, child in container.named_children():
            full = f"{name}.{child_name}" if name else child_name
            if hasattr(child, "input_amplitude") and getattr(child, "synapse", None) is not None \
                    and source is not None:
                yield source, full
            if getattr(child, "is_flatten", False):
                continue
            source = full if _is_producer(child) else None


def migrate_state_dict(model: torch.nn.Module, state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """Move the producer-side amplitudes of an earlier version's checkpoint to the blocks that receive the spikes.

    Each ``<producer>.neuron.amplitude`` becomes ``<consumer>.input_amplitude`` of the weighted block that
    the producer's spikes reach in ``model`` (Flatten skipped, as the earlier ``fold.link`` did). The
    migrated model computes what the earlier exporter deployed. An amplitude of 1 everywhere is
    dropped (it changes nothing); so are the amplitude of a last spiking layer (it only scaled the
    loss; the deployed network sends ``b``) and that of a readout (Affine: it never sent spikes).

    Parameters
    ----------
    model : torch.nn.Module
        The freshly built model, its receiving blocks built with ``input_amplitude='layer'`` or
        ``'channel'`` (the shape of the old amplitude).
    state_dict : dict
        The old checkpoint; it is not modified.

    Returns
    -------
    dict
        A state_dict for ``model.load_state_dict``.

    Raises
    ------
    ValueError
        When an amplitude other than 1 has no receiving block with an ``input_amplitude`` of its size.
    """
    out = dict(state_dict)
    consumers = dict(_chains(model))
    modules = dict(model.named_modules())
    suffix = ".neuron.amplitude"
    for key in [k for k in state_dict if k.endswith(suffix)]:
        producer = key[:-len(suffix)]
        value = torch.as_tensor(out.pop(key)).detach().cpu().reshape(-1)
        if producer in modules and not _is_producer(modules[producer]):
            continue  # a readout's neuron never sent spikes: its amplitude had no effect
        consumer = consumers.get(producer)
        target = None if consumer is None else modules[consumer].input_amplitude
        if target is None:
            if torch.all(value == 1) or (consumer is None and _is_last_spiking(model, producer)):
                continue
            where = "no block receives these spikes" if consumer is None else \
                f"block '{consumer}' receives them but was built without input_amplitude"
            raise ValueError(f"'{key}' = {value.numpy().round(4).tolist()}: {where}; build the receiving block with "
                             f"input_amplitude='{'layer' if value.numel() == 1 else 'channel'}'")
        if target.numel() % value.numel():
            raise ValueError(f"'{key}' has {value.numel()} values; '{consumer}.input_amplitude' has "
                             f"{target.numel()} (build it with input_amplitude="
                             f"'{'layer' if value.numel() == 1 else 'channel'}')")
        # one value per channel; a Dense after a Flatten may hold one per input (each channel's H*W repeated)
        out[f"{consumer}.input_amplitude"] = value.repeat_interleave(target.numel() // value.numel())
    return out


def _is_last_spiking(model: torch.nn.Module, name: str) -> bool:
    """True when no spiking or weighted block runs after block ``name`` (module registration order)."""
    names = [n for n, m in model.named_modules() if _is_producer(m) or getattr(m, "synapse", None) is not None]
    return bool(names) and names[-1] == name


def __getattr__(name: str) -> Any:
    """``fold.link`` of earlier versions: say what replaced it instead of a bare AttributeError."""
    if name == "link":
        raise AttributeError("lava_ternary.fold.link is gone: nothing needs linking any more; each block that "
                             "receives spikes owns their amplitude (input_amplitude='layer' or 'channel'); "
                             "remove the call (see docs/from_lava_dl.md)")
    raise AttributeError(f"module 'lava_ternary.fold' has no attribute {name!r}")
