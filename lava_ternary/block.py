"""slayer-style blocks of Ternary neurons: Input, Dense, Conv, Pool, Flatten, Average, Affine.

They compose slayer's abstract blocks (``slayer.block.base``) with the :class:`AbstractTernary`
mixin, as ``slayer.block.cuba`` does with ``AbstractCuba``, and keep its constructor conventions
(``neuron_params`` dict, ``weight_scale``, ``weight_norm``, ``pre_hook_fx`` defaulting to the neuron's
8-bit quantiser, ``delay``, ``delay_shift``, ``count_log``). Differences, all for ternary spikes and
deployment: event counts and persistent-state resets count -1 spikes too; weighted blocks take
``bias=True`` (per output channel, added to the voltage every step) and fold the amplitude of the
neuron that feeds them (:mod:`lava_ternary.fold`); ``input_shape=(C, H, W)`` (or :func:`fold.link`, or
a ``state_dict`` saved after a forward pass) fixes every shape, so ``export_hdf5`` needs no forward
pass (lava-dl issue #179).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import h5py
import numpy as np
import torch
from lava.lib.dl.slayer.axon import Delay
from lava.lib.dl.slayer.block import base
from lava.lib.dl.slayer.synapse import layer as synapse
from lava.lib.dl.slayer.utils import quantize

from lava_ternary import fixed
from lava_ternary.fold import fold_amplitude, folded_weight
from lava_ternary.neuron import MAX_BIAS_MANT, W_SCALE, Ternary, _channel_view

__all__ = ["AbstractTernary", "Input", "Dense", "Conv", "Pool", "Flatten", "Average", "Affine", "event_rate"]

MAX_DELAY = 62


def event_rate(x: torch.Tensor) -> torch.Tensor:
    """Fraction of non-zero outputs (counts -1 spikes, unlike slayer's ``mean(x > 0)``)."""
    return torch.mean((x != 0).to(torch.float32))


def _write_type(handle: h5py.Group, name: str) -> None:
    """The layer ``type`` as slayer writes it: fixed-length bytes of shape (1,)."""
    handle.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def _write_neuron(handle: h5py.Group, neuron: Ternary, overrides: Optional[Dict[str, Any]] = None) -> None:
    """The ``neuron/*`` datasets from ``device_params`` (TERNARY schema), with optional overrides."""
    for key, value in {**neuron.device_params, **(overrides or {})}.items():
        handle.create_dataset(f"neuron/{key}", data=value)


def _shape_or_raise(shape: Optional[Sequence[int]], block: torch.nn.Module) -> np.ndarray:
    """The shape as int64, or a ValueError that says how to make it known."""
    if shape is None:
        raise ValueError(f"{type(block).__name__}: shape unknown; pass input_shape=(C, H, W), call "
                         f"lava_ternary.fold.link(blocks) after a block of known shape, or run one forward pass")
    return np.array(shape, dtype=np.int64)


class _Ternarize(torch.autograd.Function):
    """``b = sign(x)`` for ``x = a·b`` (exact, ``a > 0``), differentiated as ``x / a``.

    So ``dL/dx = dL/db / a`` and the amplitude term ``-dL/db · x / a²`` cancels the one that reaches
    ``a`` through ``x = a·b``: ``a`` learns only through the folded weight, as in the deployed network.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, amplitude: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, amplitude)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, amplitude = ctx.saved_tensors
        grad_x = grad / amplitude
        grad_amplitude = None
        if ctx.needs_input_grad[1]:
            grad_amplitude = (-(grad_x * x) / amplitude).sum_to_size(amplitude.shape)
        return (grad_x if ctx.needs_input_grad[0] else None), grad_amplitude


class _ShapeState:
    """Keeps a block's ``shape`` in its ``state_dict`` (``_extra_state``) for export without forward."""

    def get_extra_state(self) -> Dict[str, Any]:
        """The shape, saved with the state_dict."""
        return {"shape": None if self.shape is None else [int(s) for s in self.shape]}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        """Restore the saved shape."""
        if state.get("shape") is not None:
            self._set_block_shape(state["shape"])


class AbstractTernary(torch.nn.Module):
    """Mixin that gives a slayer abstract block a :class:`Ternary` neuron, bias and amplitude folding.

    Extra keyword arguments (removed before the slayer base sees them): ``bias`` (bool, weighted
    blocks) and ``input_shape`` (torch-order shape of the block input without batch and time).
    """

    emits_spikes = True
    is_flatten = False
    _block_bias = True

    def __init__(self, *args, **kwargs):
        self._bias_requested = bool(kwargs.pop("bias", False)) if self._block_bias else False
        self._input_shape = kwargs.pop("input_shape", None)
        self._custom_hook = "pre_hook_fx" in kwargs
        super().__init__(*args, **kwargs)
        self.__dict__["_input_amplitude"] = None
        if self.neuron_params is not None:
            self.neuron = Ternary(**self.neuron_params)
        self.delay = Delay(max_delay=MAX_DELAY) if kwargs.get("delay", False) else None
        del self.neuron_params

    # ------------------------------------------------------------------ folding
    @property
    def input_amplitude(self) -> Optional[Ternary]:
        """The neuron whose amplitude this block folds into its weights (set by :func:`fold.link`)."""
        return self.__dict__.get("_input_amplitude")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "input_amplitude":  # a reference, not a submodule: keeps state_dict keys unchanged
            if value is not None and not isinstance(value, Ternary):
                raise ValueError(f"input_amplitude must be a Ternary neuron or None; got {type(value).__name__}")
            self.__dict__["_input_amplitude"] = value
        else:
            super().__setattr__(name, value)

    def _weight_hook(self, weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
        """Synapse pre-hook: fold the input amplitude, then quantise (``descale`` gives mantissas)."""
        source = self.input_amplitude
        if source is not None:
            weight = fold_amplitude(weight, source.amplitude_value(), getattr(self.synapse, "groups", 1))
        if self._quantizer is None:
            return weight * W_SCALE if descale else weight
        return self._quantizer(weight, descale=descale)

    def _synapse_input(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ternary ``b = sign(x)`` when linked, with gradient ``dL/dx = dL/db / a``."""
        source = self.input_amplitude
        if source is None:
            return x
        amplitude = source.amplitude_value()
        if amplitude.numel() > 1 and x.shape[1] != amplitude.numel():
            amplitude = amplitude.repeat_interleave(x.shape[1] // amplitude.numel())
        return _Ternarize.apply(x, _channel_view(amplitude, x.dim() - 1)[..., None])

    def _attach_synapse(self, syn: torch.nn.Module, channels: Optional[int], kwargs: Dict[str, Any]) -> None:
        """Install the synapse with the folding pre-hook, the bias and the known channel count."""
        self.synapse = syn
        self._quantizer = kwargs["pre_hook_fx"] if self._custom_hook else self.neuron.quantize_8bit
        syn.pre_hook_fx = self._weight_hook
        if channels is not None:
            self.neuron.init_channels(channels)
        if self._bias_requested:
            if channels is None:
                raise ValueError(f"bias: {type(self).__name__} has no fixed channel count; use bias=False")
            self.bias = torch.nn.Parameter(torch.zeros(channels))
        else:
            self.bias = None
        del self.synapse_params

    def quantized_bias(self) -> Optional[torch.Tensor]:
        """Bias in use: a multiple of 1/64 within the 13-bit mantissa range (straight-through gradient)."""
        if self.bias is None:
            return None
        return quantize(self.bias, step=1 / W_SCALE).clamp(-MAX_BIAS_MANT / W_SCALE, MAX_BIAS_MANT / W_SCALE)

    # ------------------------------------------------------------------ shapes
    def _set_input_shape(self, input_shape: Sequence[int]) -> None:
        """Fix the neuron shape from the block input shape by a dry run of the synapse."""
        input_shape = tuple(int(s) for s in input_shape)
        with torch.no_grad():
            probe = torch.zeros((1,) + input_shape + (1,), device=self.synapse.weight.device)
            self.neuron.set_shape(self.synapse(probe).shape[1:-1])
        self._input_shape = input_shape

    def link_shape(self, previous_shape: Optional[Sequence[int]]) -> None:
        """Take the input shape from the previous block (used by :func:`fold.link`)."""
        if self.neuron.shape is None and previous_shape is not None:
            self._set_input_shape(previous_shape)

    @property
    def known_shape(self) -> Optional[torch.Size]:
        """Output shape if known, else None."""
        return self.neuron.shape

    # ------------------------------------------------------------------ forward and export
    def _spiking_forward(self, x: torch.Tensor):
        """synapse -> neuron (+bias) -> step delay -> axonal delay, as slayer's blocks."""
        z = self.synapse(self._synapse_input(x))
        x = self.neuron(z, self.quantized_bias())
        if self.delay_shift:
            x = base.step_delay(self, x)
        if self.delay is not None:
            x = self.delay(x)
        return (x, event_rate(x)) if self.count_log else x

    def _mantissas(self) -> np.ndarray:
        """Folded integer weight mantissas (``folded_weight * 64``), checked to be integers."""
        weight = (folded_weight(self).detach() * W_SCALE).cpu().numpy()
        if not np.array_equal(weight, np.round(weight)):
            raise ValueError(f"{type(self).__name__}: weights are not integer mantissas; "
                             f"export needs a quantising pre_hook_fx")
        return weight.astype(np.float32)

    def _write_common(self, handle: h5py.Group) -> None:
        """Bias mantissas, axonal delays and the neuron group."""
        if self.bias is not None:
            handle.create_dataset("bias", data=np.round(
                self.quantized_bias().detach().cpu().numpy() * W_SCALE).astype(np.int64))
        if self.delay is not None:
            self.delay.clamp()
            handle.create_dataset("delay", data=torch.floor(self.delay.delay).flatten().cpu().numpy())
        _write_neuron(handle, self.neuron)


class Input(_ShapeState, AbstractTernary, base.AbstractInput):
    """Input block (optional Ternary neuron after an affine ``weight * x + bias``); 8-bit quantisation ready."""

    _block_bias = False  # ``bias`` is slayer's scalar input shift here

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.neuron is not None:
            self.pre_hook_fx = self.neuron.quantize_8bit
        if self._input_shape is not None:
            self._set_block_shape(self._input_shape)

    def _set_block_shape(self, shape: Sequence[int]) -> None:
        if self.neuron is not None:
            self.neuron.set_shape(shape)
        self.input_shape = torch.Size(int(s) for s in shape)

    def get_extra_state(self) -> Dict[str, Any]:
        """The input shape, saved with the state_dict."""
        return {"shape": None if self.input_shape is None else [int(s) for s in self.input_shape]}

    @property
    def known_shape(self) -> Optional[torch.Size]:
        return self.shape

    @property
    def emits_spikes(self) -> bool:  # type: ignore[override]
        return self.neuron is not None

    def link_shape(self, previous_shape: Optional[Sequence[int]]) -> None:
        """An input block starts the chain: nothing to take."""

    def forward(self, x: torch.Tensor):
        """``neuron(w * x + b)`` (when it has a neuron), step delay; counts -1 spikes in the log."""
        if self.neuron is not None:
            z = self.pre_hook_fx(x)
            if self.weight is not None:
                z = z * self.pre_hook_fx(self.weight)
            if self.bias is not None:
                z = z + self.pre_hook_fx(self.bias)
            x = self.neuron(z)
        if self.delay_shift:
            x = base.step_delay(self, x)
        if self.input_shape is None:
            self.input_shape = self.neuron.shape if self.neuron is not None else x.shape[1:-1]
        return (x, event_rate(x)) if self.count_log else x

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``input`` layer group."""
        _write_type(handle, "input")
        handle.create_dataset("shape", data=_shape_or_raise(self.shape, self))
        if self.neuron is not None:
            for name in ("weight", "bias"):
                value = getattr(self, name)
                if value is not None:
                    handle.create_dataset(name, data=self.pre_hook_fx(value, descale=True).detach().cpu().numpy())
            _write_neuron(handle, self.neuron)


class Dense(AbstractTernary, base.AbstractDense):
    """Dense block of Ternary neurons (``bias=True`` adds a per-neuron bias); 8-bit quantisation ready."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        out = self.synapse_params["out_neurons"]
        self._attach_synapse(synapse.Dense(**self.synapse_params), out, kwargs)
        self.neuron.set_shape((out,))

    def forward(self, x: torch.Tensor):
        """Dense synapse (folded, masked), Ternary neuron, delays; ``count_log`` counts all spikes."""
        if self.mask is not None:
            self.synapse.weight.data *= self.mask
        return self._spiking_forward(x)

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``dense`` layer group with folded integer weights ``(out, in)``."""
        _write_dense(handle, self)
        self._write_common(handle)


def _write_dense(handle: h5py.Group, blk: "AbstractTernary") -> None:
    """Write the keys of a netx ``dense`` layer: type, shape, feature counts and the folded ``(out, in)`` weight."""
    _write_type(handle, "dense")
    handle.create_dataset("shape", data=_shape_or_raise(blk.neuron.shape, blk))
    handle.create_dataset("inFeatures", data=blk.synapse.in_channels)
    handle.create_dataset("outFeatures", data=blk.synapse.out_channels)
    weight = blk._mantissas()
    handle.create_dataset("weight", data=weight.reshape(weight.shape[0], -1))


def _write_geometry(handle: h5py.Group, syn: torch.nn.Module) -> None:
    """Write a conv/pool synapse's kernel size, stride, padding and dilation in torch (H, W) order."""
    for key, name in (("kernelSize", "kernel_size"), ("stride", "stride"),
                      ("padding", "padding"), ("dilation", "dilation")):
        handle.create_dataset(key, data=np.array(getattr(syn, name)[:-1]))


class _Spatial(AbstractTernary):
    """Conv and Pool: attach the slayer synapse, take a known ``input_shape``, forward through the neuron."""

    _synapse_cls: type = torch.nn.Module

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._attach_synapse(self._synapse_cls(**self.synapse_params), self.synapse_params.get("out_features"),
                             kwargs)
        if self._input_shape is not None:
            self._set_input_shape(self._input_shape)

    def forward(self, x: torch.Tensor):
        """Synapse (folded), Ternary neuron, delays; ``count_log`` counts all spikes."""
        return self._spiking_forward(x)


class Conv(_Spatial, base.AbstractConv):
    """Convolution block of Ternary neurons (``bias=True`` per output channel); 8-bit quantisation ready."""

    _synapse_cls = synapse.Conv

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``conv`` layer group (torch (H, W) order) with folded integer weights."""
        _write_type(handle, "conv")
        handle.create_dataset("shape", data=_shape_or_raise(self.neuron.shape, self))
        handle.create_dataset("inChannels", data=self.synapse.in_channels)
        handle.create_dataset("outChannels", data=self.synapse.out_channels)
        _write_geometry(handle, self.synapse)
        handle.create_dataset("groups", data=self.synapse.groups)
        handle.create_dataset("weight", data=self._mantissas()[..., 0])
        self._write_common(handle)


class Pool(_Spatial, base.AbstractPool):
    """Sum-pooling block of Ternary neurons (shared kernel, no bias); 8-bit quantisation ready."""

    _synapse_cls = synapse.Pool

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``pool`` layer group: weight ``(1, 1, kH, kW)`` as slayer, folded and integer."""
        _write_type(handle, "pool")
        handle.create_dataset("shape", data=_shape_or_raise(self.neuron.shape, self))
        _write_geometry(handle, self.synapse)
        handle.create_dataset("weight", data=self._mantissas()[..., 0])
        self._write_common(handle)


class Affine(AbstractTernary, base.AbstractAffine):
    """Readout block: Ternary-neuron integrator without spikes; returns the voltage (or the current)."""

    emits_spikes = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        out = self.synapse_params["out_neurons"]
        self._attach_synapse(synapse.Dense(**self.synapse_params), out, kwargs)
        self.neuron.set_shape((out,))

    def forward(self, x: torch.Tensor):
        """Folded dense synapse, then the voltage of a never-spiking integrator (``dynamics=True``)."""
        z = self.synapse(self._synapse_input(x))
        x = self.neuron.dynamics(z, self.quantized_bias(), spiking=False)[1] if self.dynamics else z
        return (x, None) if self.count_log else x

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write a netx ``dense`` layer whose neuron has the largest threshold (read its voltage)."""
        _write_dense(handle, self)
        if self.bias is not None:
            handle.create_dataset("bias", data=np.round(
                self.quantized_bias().detach().cpu().numpy() * W_SCALE).astype(np.int64))
        if self.dynamics:
            _write_neuron(handle, self.neuron, {"vThMant": fixed.MAX_VTH_MANT})


class Flatten(_ShapeState, base.AbstractFlatten):
    """Flatten ``(N, C, H, W, T)`` to ``(N, C*H*W, T)``; keeps ternary values (link() skips it)."""

    is_flatten = True

    def __init__(self, count_log: bool = False, input_shape: Optional[Sequence[int]] = None):
        super().__init__(count_log=count_log)
        if input_shape is not None:
            self.link_shape(input_shape)

    def _set_block_shape(self, shape: Sequence[int]) -> None:
        self.shape = [int(s) for s in shape]

    def link_shape(self, previous_shape: Optional[Sequence[int]]) -> None:
        """Output shape ``[C*H*W, 1, 1]`` from the input shape."""
        if self.shape is None and previous_shape is not None:
            self.shape = [int(np.prod(previous_shape)), 1, 1]

    @property
    def known_shape(self) -> Optional[torch.Size]:
        return None if self.shape is None else torch.Size(self.shape)

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``flatten`` layer group."""
        _write_type(handle, "flatten")
        handle.create_dataset("shape", data=_shape_or_raise(self.shape, self))


class Average(base.AbstractAverage):
    """Population average readout ``(N, num_outputs, T)``; exports without slayer's missing-neuron crash."""

    @property
    def known_shape(self) -> torch.Size:
        return self.shape

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``average`` layer group with shape ``[num_outputs, 1, 1]``."""
        _write_type(handle, "average")
        handle.create_dataset("shape", data=np.array(self.shape, dtype=np.int64))
