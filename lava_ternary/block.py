"""slayer-style blocks of Ternary neurons: Input, Dense, Recurrent, Conv, Pool, Flatten, Average, Affine.

They compose slayer's abstract blocks (``slayer.block.base``) with the :class:`AbstractTernary`
mixin, as ``slayer.block.cuba`` does with ``AbstractCuba``, and keep its constructor conventions
(``neuron_params`` dict, ``weight_scale``, ``weight_norm``, ``pre_hook_fx`` defaulting to the neuron's
8-bit quantiser, ``delay``, ``delay_shift``, ``count_log``). Differences, all for ternary spikes and
deployment:

* event counts and persistent-state resets count -1 spikes too;
* weighted blocks (Dense, Conv, Pool, Affine) take ``bias=True`` (per output channel, added to the
  voltage every step) and ``input_amplitude='layer'`` or ``'channel'``: the learnable amplitude ``a``
  of the spikes the block receives, folded into its own 8-bit weights ``quantize_8bit(a · W)``
  (:mod:`lava_ternary.fold`); neurons emit plain ``b``, so no call links blocks;
* ``delay=True`` (Dense only) is the learnable axonal delay where netx puts it: on the layer's
  synaptic input per output neuron (Lava's ``DelayDense``), integer in training as deployed;
* ``input_shape=(C, H, W)`` (or :func:`propagate_shapes`, or a ``state_dict`` saved after a forward
  pass) fixes every shape, so ``export_hdf5`` needs no forward pass (lava-dl issue #179).

Each block's ``export_hdf5(group)`` writes exactly the layer group that
:func:`lava_ternary.netx.export_hdf5` writes for it, so lava-dl's per-block export loop works as is.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Sequence

import h5py
import numpy as np
import torch
from lava.lib.dl.slayer.axon import Delay
from lava.lib.dl.slayer.block import base
from lava.lib.dl.slayer.synapse import layer as synapse
from lava.lib.dl.slayer.utils import quantize

from lava_ternary import fixed
from lava_ternary.fold import current_weight, fold_amplitude, folded_weight
from lava_ternary.neuron import AMPLITUDE_MIN, AMPLITUDE_SHAPES, MAX_BIAS_MANT, W_SCALE, Ternary

__all__ = ["AbstractTernary", "Input", "Dense", "Recurrent", "Conv", "Pool", "Flatten", "Average", "Affine",
           "event_rate", "propagate_shapes"]

MAX_DELAY = 62


def propagate_shapes(blocks: Iterable[torch.nn.Module]) -> None:
    """Fix each block's unknown shape from the block before it (a Conv after a Conv of known shape, a Flatten).

    Only shapes, for ``export_hdf5`` without a forward pass; the blocks compute the same function
    with or without it (a forward pass fixes the same shapes).
    """
    previous = None
    for block in blocks:
        if hasattr(block, "infer_shape"):
            block.infer_shape(previous)
        previous = getattr(block, "known_shape", None)


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
                         f"lava_ternary.block.propagate_shapes(blocks), or run one forward pass")
    return np.array(shape, dtype=np.int64)


def _integer_mantissas(block: torch.nn.Module, weight: torch.Tensor) -> np.ndarray:
    """``weight * 64`` as float32, checked to be integers (export needs a quantising pre_hook_fx)."""
    weight = (weight.detach() * W_SCALE).cpu().numpy()
    if not np.array_equal(weight, np.round(weight)):
        raise ValueError(f"{type(block).__name__}: weights are not integer mantissas; "
                         f"export needs a quantising pre_hook_fx")
    return weight.astype(np.float32)


class _IntegerDelay(torch.autograd.Function):
    """Shift ``(N, C, ..., T)`` along time by the integer part of a per-channel delay ``(C,)`` (zeros shift in).

    The gradient with respect to the delay is slayer's (``axon.delay``): the output's backward
    difference times the output gradient, summed over batch, space and time.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, delay: torch.Tensor) -> torch.Tensor:
        steps = delay.detach().to(torch.int64)
        out = _shift(x, steps)
        ctx.save_for_backward(out, steps)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out, steps = ctx.saved_tensors
        grad_x = _shift(grad, -steps)
        diff = torch.nn.functional.pad(out, (1, 0))[..., :-1] - out
        grad_delay = (grad * diff).transpose(0, 1).reshape(out.shape[1], -1).sum(dim=1)
        return grad_x, grad_delay


def _shift(x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """``y[:, c, ..., t] = x[:, c, ..., t - steps[c]]`` (zero outside ``0..T-1``)."""
    time = x.shape[-1]
    index = torch.arange(time, device=x.device) - steps.to(x.device).reshape((1, -1) + (1,) * (x.dim() - 2))
    valid = (index >= 0) & (index < time)
    gathered = x.gather(-1, index.clamp(0, time - 1).expand(x.shape).contiguous())
    return gathered * valid


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
    """Mixin that gives a slayer abstract block a :class:`Ternary` neuron, bias and its input's amplitude.

    Extra keyword arguments of weighted blocks (removed before the slayer base sees them): ``bias``
    (bool), ``input_amplitude`` (None, ``'layer'`` or ``'channel'``), ``amplitude_channels`` (Dense and
    Affine after a Flatten: the channel count ``C`` of the flattened ``C×H×W`` input); of all blocks:
    ``input_shape`` (torch-order shape of the block input without batch and time).
    """

    emits_spikes = True
    is_flatten = False
    _weighted = True
    _delay_refusal: Optional[str] = None

    def __init__(self, *args, **kwargs):
        self._bias_requested = bool(kwargs.pop("bias", False)) if self._weighted else False
        self._amplitude_shape = kwargs.pop("input_amplitude", None) if self._weighted else None
        self._amplitude_channels = kwargs.pop("amplitude_channels", None) if self._weighted else None
        self._input_shape = kwargs.pop("input_shape", None)
        self._custom_hook = "pre_hook_fx" in kwargs
        if self._amplitude_shape is not None and self._amplitude_shape not in AMPLITUDE_SHAPES:
            raise ValueError(f"{type(self).__name__}: input_amplitude must be None, 'layer' or 'channel'; "
                             f"got {self._amplitude_shape!r}")
        if kwargs.get("delay", False) and self._delay_refusal is not None:
            raise ValueError(f"{type(self).__name__}: delay=True is not supported: {self._delay_refusal}")
        super().__init__(*args, **kwargs)
        if self.neuron_params is not None:
            self.neuron = Ternary(**self.neuron_params)
        self.delay = Delay(max_delay=MAX_DELAY) if kwargs.get("delay", False) else None
        del self.neuron_params

    # ------------------------------------------------------------------ folding
    def _weight_hook(self, weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
        """Synapse pre-hook: fold the input amplitude, then quantise (``descale`` gives mantissas)."""
        if self.input_amplitude is not None:
            weight = fold_amplitude(weight, self.input_amplitude.clamp(min=AMPLITUDE_MIN),
                                    getattr(self.synapse, "groups", 1))
        return self._quantize(weight, descale)

    def _quantize(self, weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
        """The block's quantiser (8-bit by default; none with ``pre_hook_fx=None``); ``descale`` gives mantissas."""
        if self._quantizer is None:
            return weight * W_SCALE if descale else weight
        return self._quantizer(weight, descale=descale)

    def _attach_synapse(self, syn: torch.nn.Module, channels: Optional[int], kwargs: Dict[str, Any],
                        name: str = "synapse") -> None:
        """Install the synapse (as ``name``) with the folding pre-hook, the input amplitude, the bias and the
        channel count."""
        setattr(self, name, syn)
        self._quantizer = kwargs["pre_hook_fx"] if self._custom_hook else self.neuron.quantize_8bit
        syn.pre_hook_fx = self._weight_hook
        self._attach_amplitude()
        if channels is not None:
            self.neuron.init_channels(channels)
        if self._bias_requested:
            if channels is None:
                raise ValueError(f"bias: {type(self).__name__} has no fixed channel count; use bias=False")
            self.bias = torch.nn.Parameter(torch.zeros(channels))
        else:
            self.bias = None
        del self.synapse_params

    def _attach_amplitude(self) -> None:
        """Create ``input_amplitude`` (``(1,)`` or ``(C_in,)``, ones, learnable) or register it as None."""
        shape, channels = self._amplitude_shape, self._amplitude_channels
        name = type(self).__name__
        in_features = int(self.synapse.weight.shape[1]) * int(getattr(self.synapse, "groups", 1))
        if channels is not None and (shape != "channel" or not isinstance(self.synapse, synapse.Dense)):
            raise ValueError(f"{name}: amplitude_channels is for input_amplitude='channel' on Dense/Affine only")
        if shape != "channel":
            count = 1
        elif isinstance(self.synapse, synapse.Pool):
            raise ValueError(f"{name}: input_amplitude='channel' cannot fold into a pooling kernel shared by all "
                             f"channels; use input_amplitude='layer' on a Pool (or 'channel' on the block after it)")
        else:
            count = in_features if channels is None else int(channels)
            if count < 1 or in_features % count:
                raise ValueError(f"{name}: amplitude_channels={channels} does not divide the {in_features} inputs")
        if shape is None:
            self.register_parameter("input_amplitude", None)
        else:
            self.input_amplitude = torch.nn.Parameter(torch.ones(count))

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

    def infer_shape(self, previous_shape: Optional[Sequence[int]]) -> None:
        """Take the input shape from the previous block when unknown (:func:`propagate_shapes`)."""
        if self.neuron.shape is None and previous_shape is not None:
            self._set_input_shape(previous_shape)

    @property
    def known_shape(self) -> Optional[torch.Size]:
        """Output shape if known, else None."""
        return self.neuron.shape

    # ------------------------------------------------------------------ forward and export
    def _init_delay(self, channels: int) -> None:
        """Give the axonal delay its per-neuron shape at construction (slayer's initial values, rand in [0, 1))."""
        if self.delay is not None:
            self.delay.delay.data = torch.rand(channels)
            self.delay.init = True

    def _delayed(self, z: torch.Tensor) -> torch.Tensor:
        """Synaptic input delayed per output neuron by the integer part of the learnt delay (Lava's DelayDense)."""
        if self.delay is None:
            return z
        self.delay.clamp()
        return _IntegerDelay.apply(z, self.delay.delay)

    def _spiking_forward(self, x: torch.Tensor):
        """synapse -> [delay] -> neuron (+bias) -> step delay (slayer's order; the delay where netx puts it)."""
        z = self._delayed(self.synapse(x))
        x = self.neuron(z, self.quantized_bias())
        if self.delay_shift:
            x = base.step_delay(self, x)
        return (x, event_rate(x)) if self.count_log else x

    def _mantissas(self) -> np.ndarray:
        """Folded integer weight mantissas (``folded_weight * 64``), checked to be integers."""
        return _integer_mantissas(self, folded_weight(self))

    def _write_common(self, handle: h5py.Group) -> None:
        """Bias mantissas, axonal delays and the neuron group."""
        if self.bias is not None:
            handle.create_dataset("bias", data=np.round(
                self.quantized_bias().detach().cpu().numpy() * W_SCALE).astype(np.int64))
        if self.delay is not None:  # the steps the forward shifts by (it clamps the same way)
            steps = self.delay.delay.detach().clamp(0, MAX_DELAY).to(torch.int64)
            handle.create_dataset("delay", data=steps.flatten().cpu().numpy())
        _write_neuron(handle, self.neuron)


class Input(_ShapeState, AbstractTernary, base.AbstractInput):
    """Input block (optional Ternary neuron after an affine ``weight * x + bias``); 8-bit quantisation ready."""

    _weighted = False  # ``bias`` is slayer's scalar input shift here; no synapse to fold into
    _delay_refusal = "an input layer has no synapse for netx to delay"

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

    def infer_shape(self, previous_shape: Optional[Sequence[int]]) -> None:
        """An input block starts the network: nothing to take."""

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
        self._init_delay(out)

    def forward(self, x: torch.Tensor):
        """Dense synapse (folded, masked), [axonal delay], Ternary neuron, step delay; ``count_log`` counts all spikes."""
        if self.mask is not None:
            self.synapse.weight.data *= self.mask
        return self._spiking_forward(x)

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``dense`` layer group with folded integer weights ``(out, in)``."""
        _write_dense(handle, self)
        self._write_common(handle)


def _write_dense(handle: h5py.Group, blk: "AbstractTernary", kind: str = "dense") -> None:
    """Write the keys of a netx ``dense`` (or ``dense_rec``) layer: type, shape, feature counts and the folded
    ``(out, in)`` weight."""
    _write_type(handle, kind)
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
    _delay_refusal = ("netx builds convolution and pooling layers without delays (its reader ignores a conv "
                      "layer's 'delay'), so Lava would run this layer undelayed; use delay=True on Dense blocks")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._attach_synapse(self._synapse_cls(**self.synapse_params), self.synapse_params.get("out_features"),
                             kwargs)
        if self._input_shape is not None:
            self._set_input_shape(self._input_shape)

    def forward(self, x: torch.Tensor):
        """Synapse (folded), Ternary neuron, step delay; ``count_log`` counts all spikes."""
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
        z = self.synapse(x)
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


class Recurrent(AbstractTernary, base.AbstractRecurrent):
    """Recurrent dense block of Ternary neurons: ``b[t] = f(W s_in[t] + R b[t-1])``; 8-bit quantisation ready.

    slayer's ``cuba.Recurrent`` conventions (``neuron_params, in_neurons, out_neurons``, ``weight_scale``,
    ``weight_norm``, ``pre_hook_fx``, ``requires_grad`` for the recurrent weights, ``delay_shift``,
    ``count_log``; submodules ``input_synapse`` and ``recurrent_synapse``; exported as netx ``dense_rec``),
    with the weighted blocks' ``bias=True`` (per neuron, on the voltage) and ``input_amplitude`` (folded
    into ``W`` only: the recurrent synapse receives this block's own plain ``b`` and ``R`` carries its scale).
    The fed-back spike reaches the neurons one step after it was sent, exactly as through Lava's recurrent
    synapse (:meth:`lava_ternary.neuron.Ternary.recurrent`). Unlike slayer's block, no state persists
    between calls: every sample starts from ``u = 0, v = v_init`` with no spike fed back, as the deployed
    network restarts every ``reset_interval``. Input ``(N, in_neurons, T)`` (put a Flatten before it).
    """

    _delay_refusal = ("netx's recurrent block applies the input synapse's delays to the recurrent synapse "
                      "too; use delay=True on a Dense block instead")

    def __init__(self, *args, **kwargs):
        if args:
            args = (dict(args[0]),) + args[1:]  # slayer's base writes persistent_state into the dict it gets
        elif "neuron_params" in kwargs:
            kwargs["neuron_params"] = dict(kwargs["neuron_params"])
        super().__init__(*args, **kwargs)
        self.neuron.persistent_state = self.persistent_state = False
        del self.spike_state
        if self.neuron.norm is not None:
            raise ValueError("Recurrent: neuron norm is not supported (it cannot be deployed, and a one-step norm "
                             "inside the recurrence is not the layer's norm)")
        out = self.synapse_params["out_neurons"]
        self._attach_synapse(synapse.Dense(**self.synapse_params), out, kwargs, name="input_synapse")
        self.recurrent_synapse = synapse.Dense(**self.recurrent_params)
        self.recurrent_synapse.pre_hook_fx = self._quantize  # its spikes are this block's own b: no amplitude
        self.recurrent_synapse.weight.requires_grad_(self.requires_grad)
        del self.recurrent_params
        self.neuron.set_shape((out,))

    @property
    def synapse(self) -> torch.nn.Module:
        """The input synapse (what the weighted blocks' folding, bias and export read as ``synapse``)."""
        return self.input_synapse

    def recurrent_weight(self) -> torch.Tensor:
        """The quantised recurrent weight ``(out, out)`` the forward uses (slayer float units)."""
        syn = self.recurrent_synapse
        weight = syn.pre_hook_fx(current_weight(syn))
        return weight.reshape(weight.shape[:2])

    def forward(self, x: torch.Tensor):
        """Folded input synapse, the recurrent Ternary dynamics, step delay; ``count_log`` counts all spikes."""
        if x.dim() != 3:
            raise ValueError(f"Recurrent: input must be (batch, {self.input_synapse.in_channels}, time); got shape "
                             f"{tuple(x.shape)} (put a Flatten before it)")
        out = self.neuron.recurrent(self.synapse(x), self.recurrent_weight(), self.quantized_bias())
        if self.delay_shift:
            out = base.step_delay(self, out)
        return (out, event_rate(out)) if self.count_log else out

    def export_hdf5(self, handle: h5py.Group) -> None:
        """Write the netx ``dense_rec`` layer group: Dense's keys plus ``weight_rec`` ``(out, out)``."""
        _write_dense(handle, self, "dense_rec")
        handle.create_dataset("weight_rec", data=_integer_mantissas(self, self.recurrent_weight()))
        self._write_common(handle)


class Flatten(_ShapeState, base.AbstractFlatten):
    """Flatten ``(N, C, H, W, T)`` to ``(N, C*H*W, T)``; keeps ternary values."""

    is_flatten = True

    def __init__(self, count_log: bool = False, input_shape: Optional[Sequence[int]] = None):
        super().__init__(count_log=count_log)
        if input_shape is not None:
            self.infer_shape(input_shape)

    def _set_block_shape(self, shape: Sequence[int]) -> None:
        self.shape = [int(s) for s in shape]

    def infer_shape(self, previous_shape: Optional[Sequence[int]]) -> None:
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
