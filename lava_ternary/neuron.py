"""Ternary ({-1, 0, +1}) CUBA neuron for lava-dl SLAYER training, bit-exact with :mod:`lava_ternary.fixed`.

:class:`Ternary` subclasses slayer's ``cuba.Neuron`` (its decays, scales and 8-bit weight quantiser)
and replaces the dynamics with a symmetric-threshold integer loop: the paper's Eqs. 7/8 in Loihi's
fixed-point arithmetic, so what trains is what Lava's ``fixed_pt`` models compute. The output is the
plain ternary spike ``b``, in torch exactly as on the chip. The paper's spike amplitude ``a`` (Eq. 14)
belongs to the *consumer*: each weighted block that receives the spikes owns ``a`` as its
``input_amplitude`` and folds it into its own 8-bit weights (Eq. 17, :mod:`lava_ternary.fold`).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch
from lava.lib.dl.slayer.neuron import cuba
from lava.lib.dl.slayer.neuron.dynamics.leaky_integrator import _li_dynamics_bwd
from lava.lib.dl.slayer.spike.spike import _spike_backward
from lava.lib.dl.slayer.utils import quantize

from lava_ternary import fixed
from lava_ternary.neuron_params import TernaryParams

__all__ = ["Ternary", "PAPER_PARAMS", "neuron_params", "AMPLITUDE_MIN", "SURROGATES", "AMPLITUDE_SHAPES",
           "MOVED_AMPLITUDE_KEYS"]

W_SCALE = 1 << fixed.VTH_SHIFT
S_SCALE = W_SCALE << fixed.ACT_SHIFT
AMPLITUDE_MIN = 2.0 ** -10
SURROGATES = ("ste", "exp")
AMPLITUDE_SHAPES = ("layer", "channel")
MAX_BIAS_MANT = (1 << 12) - 1
MOVED_AMPLITUDE_KEYS = ("learn_amplitude", "amplitude", "amplitude_shape")
"""Neuron arguments of earlier versions: the amplitude now belongs to the block that receives the spikes."""

PAPER_PARAMS: Dict[str, float] = {"threshold": 0.5, "current_decay": 1.0, "voltage_decay": 0.75}
"""The paper's neuron: threshold 0.5, current = input (``current_decay=1``), voltage keeps 0.25 per step."""

Channels = Union[float, Sequence[float], np.ndarray, torch.Tensor]


def neuron_params(device_params: Dict[str, Any], scale: int = W_SCALE,
                  p_scale: int = fixed.DECAY_UNITY) -> Dict[str, Any]:
    """Translate a TERNARY netx neuron description back to :class:`Ternary` constructor arguments.

    A file's weights already contain every amplitude (the consumer's ``quantize_8bit(a · W)``).

    Parameters
    ----------
    device_params : dict
        The ``neuron`` group as a dict (``vThMant``, ``iDecay``, ``vDecay`` and optionally
        ``resetMode``, ``spikeMode``, ``vInit``).
    scale : int
        Weight scale (64).
    p_scale : int
        Decay scale (4096).
    """
    params: Dict[str, Any] = {
        "threshold": int(np.asarray(device_params["vThMant"])) / scale,
        "current_decay": float(np.asarray(device_params["iDecay"])) / p_scale,
        "voltage_decay": float(np.asarray(device_params["vDecay"])) / p_scale,
    }
    for key, name in (("resetMode", "reset"), ("spikeMode", "spike_mode")):
        if key in device_params:
            value = device_params[key]
            params[name] = value.decode() if isinstance(value, bytes) else str(value)
    if "vInit" in device_params:
        v_init = np.asarray(device_params["vInit"], dtype=np.float64) / (scale << fixed.ACT_SHIFT)
        params["v_init"] = float(v_init) if v_init.ndim == 0 else v_init.tolist()
    return params


def _check_fraction(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless every entry of ``value`` lies in [0, 1]."""
    values = np.asarray(value, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
        raise ValueError(f"{name} must lie in [0, 1]; got {value!r}")


def _channel_view(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a per-channel ``(C,)`` (or ``(1,)``) tensor so it broadcasts over ``(N, C, *spatial)``."""
    return x.reshape((1, -1) + (1,) * (ndim - 2))


def _state_mantissa(x: torch.Tensor) -> torch.Tensor:
    """Float state (multiples of 1/4096) to int64 state units, truncating toward zero as slayer does."""
    return (x.detach().to(torch.float64) * S_SCALE).to(torch.int64)


def _drive(x: torch.Tensor) -> torch.Tensor:
    """``(N, ..., T)`` float input to a contiguous time-first ``(T, N, ...)`` int64 in state units.

    Truncates toward zero like slayer's ``(s_scale * x).to(int)``; exact for the usual multiples of 1/64.
    Time-first makes every step one contiguous slice.
    """
    return (x.detach().movedim(-1, 0) * S_SCALE).to(torch.int64, memory_format=torch.contiguous_format)


def _decay_scale(decay: torch.Tensor) -> torch.Tensor:
    """``(4096 - decay) / 4096`` in float64: multiplying an int64 state by it and truncating is exactly
    ``shift_toward_zero(x * (4096 - decay), 12)`` (a dyadic factor, products below 2**53)."""
    return (fixed.DECAY_UNITY - decay.detach().to(torch.float64)) * (1.0 / fixed.DECAY_UNITY)


def _to_float(out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Time-first float state units back to ``(N, ..., T)`` slayer units (exact: |x| < 2**24, /4096)."""
    return out.to(dtype).mul_(1.0 / S_SCALE).movedim(0, -1)


def _wrap_current(u: torch.Tensor) -> torch.Tensor:
    """24-bit current wrap exactly as :func:`lava_ternary.fixed.wrap_current`."""
    u = torch.where(u > fixed.MAX_STATE, u - 2 * fixed.MAX_STATE, u)
    return torch.where(u <= -fixed.MAX_STATE, u + 2 * fixed.MAX_STATE, u)


def _current_loop(drive: torch.Tensor, scale: torch.Tensor, u: torch.Tensor, wrap: bool) -> torch.Tensor:
    """``u = [wrap24](toward_zero(u * (4096 - decay) / 4096) + drive[t])`` over time; float64 record."""
    out = torch.empty(drive.shape, dtype=torch.float64, device=drive.device)
    for t in range(drive.shape[0]):
        u = (u * scale).to(torch.int64).add_(drive[t])
        if wrap:
            u = _wrap_current(u)
        out[t] = u
    return out


def _leaky_backward(grad_output: torch.Tensor, output: torch.Tensor, decay: torch.Tensor, state: torch.Tensor,
                    state_grad: bool):
    """slayer's leaky-integrator backward; with ``state_grad`` also through the initial state.

    The state is the record's step -1: ``y[0] = (1 - decay) state + x[0]`` gives it the gradient
    ``(1 - decay) dL/dx[0]`` and adds ``dL/dx[0] * state`` to the decay's, as for every later step.
    Returns ``(grad_input, grad_decay, grad_state or None)``.
    """
    if not state_grad:
        return _li_dynamics_bwd(grad_output, output, decay) + (None,)
    grad, grad_decay = _li_dynamics_bwd(torch.nn.functional.pad(grad_output, (1, 0)),
                                        torch.cat([state.to(output.dtype).unsqueeze(-1), output], dim=-1), decay)
    return grad[..., 1:], grad_decay, grad[..., 0]


class _CurrentDynamics(torch.autograd.Function):
    """Current ``u[t] = (1 - current_decay) u[t-1] + x[t]`` with Loihi rounding and 24-bit wrap."""

    @staticmethod
    def forward(ctx, input: torch.Tensor, decay: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        scale = _decay_scale(decay)
        drive = _drive(input)
        u0 = _state_mantissa(state)
        out = _current_loop(drive, scale, u0, wrap=False)
        low, high = torch.aminmax(out) if out.numel() else (0, 0)
        if high > fixed.MAX_STATE or low <= -fixed.MAX_STATE:
            out = _current_loop(drive, scale, u0, wrap=True)  # rare: redo with Lava's 24-bit wrap
        output = _to_float(out, input.dtype)
        ctx.save_for_backward(output, decay, state)
        return output

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        output, decay, state = ctx.saved_tensors
        grad_input, grad_decay, grad_state = _leaky_backward(grad_output, output, decay, state,
                                                             ctx.needs_input_grad[2])
        return grad_input, grad_decay.reshape(decay.shape), grad_state


class _VoltageDynamics(torch.autograd.Function):
    """Voltage ``v[t] = (1 - voltage_decay) v[t-1] + u[t] + bias`` with saturation, ternary spike and reset.

    Returns the voltage *before* the reset of each step (what the spike function reads), as slayer does.
    """

    @staticmethod
    def forward(ctx, current: torch.Tensor, decay: torch.Tensor, state: torch.Tensor,
                bias: Optional[torch.Tensor], vth_eff: int, soft: bool, binary: bool,
                spiking: bool) -> torch.Tensor:
        scale = _decay_scale(decay)
        drive = _drive(current)
        if bias is not None:
            drive += _channel_view(_state_mantissa(bias), drive.ndim - 1)
        v = _state_mantissa(state)
        out = torch.empty(drive.shape, dtype=current.dtype, device=drive.device)
        lim = fixed.MAX_STATE - 1
        for t in range(drive.shape[0]):
            v = (v * scale).to(torch.int64).add_(drive[t]).clamp_(-lim, lim)
            out[t] = v
            if not spiking:
                continue
            if soft:
                s = (v > vth_eff).to(torch.int64)
                if not binary:
                    s -= (v < -vth_eff).to(torch.int64)
                v -= s * vth_eff
            elif binary:
                v.masked_fill_(v > vth_eff, 0)
            else:
                v.masked_fill_(v.abs() > vth_eff, 0)
        output = _to_float(out, current.dtype)
        ctx.has_bias = bias is not None
        ctx.save_for_backward(output, decay, state)
        return output

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        output, decay, state = ctx.saved_tensors
        grad_current, grad_decay, grad_state = _leaky_backward(grad_output, output, decay, state,
                                                               ctx.needs_input_grad[2])
        grad_bias = None
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = grad_current.transpose(0, 1).reshape(grad_current.shape[1], -1).sum(dim=1)
        return grad_current, grad_decay.reshape(decay.shape), grad_state, grad_bias, None, None, None, None


class _TernarySpike(torch.autograd.Function):
    """``b = [v > θ] - [v < -θ]`` (binary: first term only) with a selectable surrogate gradient.

    ``v`` and ``θ`` are exact multiples of 1/4096 and 1/64 in float, so the strict comparisons equal
    slayer's ``v >= θ + threshold_eps`` and Loihi's integer ``v > vThMant << 6`` without an epsilon.
    """

    @staticmethod
    def forward(ctx, voltage: torch.Tensor, threshold: float, binary: bool, surrogate: str,
                tau_rho: float, scale_rho: float) -> torch.Tensor:
        spikes = (voltage > threshold).to(voltage.dtype)
        if not binary:
            spikes = spikes - (voltage < -threshold).to(voltage.dtype)
        ctx.save_for_backward(voltage)
        ctx.args = (threshold, binary, surrogate, tau_rho, scale_rho)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        (voltage,) = ctx.saved_tensors
        threshold, binary, surrogate, tau_rho, scale_rho = ctx.args
        if surrogate == "ste":
            low = 0.0 if binary else -threshold
            grad = ((voltage >= low) & (voltage <= threshold)).to(voltage.dtype) / threshold
        else:
            grad = _spike_backward(voltage, threshold, tau_rho, scale_rho)
            if not binary:
                grad = grad + _spike_backward(voltage, -threshold, tau_rho, scale_rho)
        return grad * grad_spikes, None, None, None, None, None


class Ternary(cuba.Neuron):
    """Loihi CUBA neuron with a symmetric threshold that fires ``b`` in {-1, 0, +1}.

    Dynamics (slayer float units; the integer arithmetic is exactly :func:`lava_ternary.fixed.neuron_step`):
    ``u[t] = (1 - current_decay) u[t-1] + x[t]``, ``v[t] = (1 - voltage_decay) v[t-1] + u[t] + bias``,
    ``b = +1 if v > θ``, ``-1 if v < -θ`` (ternary mode), else 0; hard reset ``v = 0`` or soft reset
    ``v -= b θ`` after a spike; ``u`` is never reset. Every sample starts from ``u = 0, v = v_init``.
    The neuron sends ``b`` only, in training as deployed; the spike amplitude ``a`` of the paper is a
    parameter of the block that receives the spikes (``input_amplitude='layer'`` or ``'channel'`` on
    :class:`lava_ternary.block.Dense`, ``Conv``, ``Pool``, ``Affine``). Passing ``learn_amplitude``,
    ``amplitude`` or ``amplitude_shape`` here raises a ``ValueError`` that says so.

    Parameters
    ----------
    threshold : float
        Threshold θ > 0; truncated to a multiple of 1/64 (``vThMant = θ * 64``, at most 2**17 - 1).
    current_decay, voltage_decay : float or tuple
        Fraction of current / voltage lost per step, in [0, 1] (``(min, max)`` when not ``shared_param``).
    tau_grad, scale_grad : float
        Width and scale of slayer's exponential surrogate (``surrogate='exp'``).
    scale : int
        slayer's weight scale; must be 64 (Loihi's 6-bit weight/threshold shift).
    norm, dropout : callable, optional
        As in ``cuba.Neuron`` (``norm`` is applied to the current; not exportable).
    shared_param : bool
        Shared decays (True) or per-channel decays drawn in ``[min, max]``.
    persistent_state : bool
        Keep ``u, v`` across calls instead of starting each sample from ``(0, v_init)``.
    requires_grad : bool
        Learnable decays.
    graded_spike : bool
        Must be False (graded output has no TERNARY deploy path).
    reset : {'hard', 'soft'}
        Voltage reset after a spike.
    spike_mode : {'ternary', 'binary'}
        Binary fires only at ``+θ`` (the ablation baseline); the dynamics are otherwise identical.
    v_init : float or sequence of float
        Initial voltage of every sample, scalar or per channel; quantised to a multiple of 1/4096.
    surrogate : {'ste', 'exp'}
        Straight-through estimator (gradient of ``clamp(v/θ, -1, 1)``, the paper's code) or slayer's
        exponential kernel (one per threshold side).
    """

    def __init__(self, threshold: float, current_decay: Any, voltage_decay: Any,
                 tau_grad: float = 1, scale_grad: float = 1, scale: int = W_SCALE,
                 norm: Any = None, dropout: Any = None, shared_param: bool = True,
                 persistent_state: bool = False, requires_grad: bool = False,
                 graded_spike: bool = False, reset: str = "hard", spike_mode: str = "ternary",
                 v_init: Channels = 0.0, surrogate: str = "ste", **moved: Any):
        if moved:
            unknown = sorted(set(moved) - set(MOVED_AMPLITUDE_KEYS))
            if unknown:
                raise TypeError(f"Ternary got unexpected keyword arguments {unknown}")
            raise ValueError(f"{', '.join(sorted(moved))}: the spike amplitude is no longer a neuron parameter; the "
                             f"block that receives the spikes owns it: pass input_amplitude='layer' (or 'channel') "
                             f"to the next Dense/Conv/Pool/Affine block (see docs/from_lava_dl.md)")
        if not np.isscalar(threshold) or not np.isfinite(threshold) or threshold <= 0:
            raise ValueError(f"threshold must be a positive number; got {threshold!r}")
        if not 1 <= int(threshold * W_SCALE) <= fixed.MAX_VTH_MANT:
            raise ValueError(f"threshold must be in [1/64, {fixed.MAX_VTH_MANT}/64] (vThMant 1..2**17-1); "
                             f"got {threshold!r}")
        _check_fraction("current_decay", current_decay)
        _check_fraction("voltage_decay", voltage_decay)
        if scale != W_SCALE:
            raise ValueError(f"scale must be {W_SCALE} (Loihi's weight/threshold shift); got {scale!r}")
        if graded_spike:
            raise ValueError("graded_spike must be False: a TERNARY neuron sends b in {-1, 0, +1}")
        for name, value, allowed in (("reset", reset, fixed.RESET_MODES),
                                     ("spike_mode", spike_mode, fixed.SPIKE_MODES),
                                     ("surrogate", surrogate, SURROGATES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
        super().__init__(threshold, current_decay, voltage_decay, tau_grad=tau_grad,
                         scale_grad=scale_grad, scale=scale, norm=norm, dropout=dropout,
                         shared_param=shared_param, persistent_state=persistent_state,
                         requires_grad=requires_grad, graded_spike=False)
        self.reset = reset
        self.spike_mode = spike_mode
        self.surrogate = surrogate
        self.num_channels: Optional[int] = None

        v_init_t = torch.as_tensor(v_init, dtype=torch.float64).reshape(-1)
        v_init_mant = torch.round(v_init_t * S_SCALE)
        if v_init_t.numel() == 0 or not torch.all(torch.isfinite(v_init_t)) \
                or torch.any(v_init_mant.abs() >= fixed.MAX_STATE):
            raise ValueError(f"v_init must be finite with |v_init| < 2048 (24-bit state); got {v_init!r}")
        self.register_buffer("v_init", (v_init_mant / S_SCALE).to(torch.float32))
        if self.v_init.numel() > 1:
            self._set_channels(self.v_init.numel(), "v_init")

    # ------------------------------------------------------------------ shape and channels
    def _set_channels(self, channels: int, source: str) -> None:
        """Fix the channel count; check per-channel parameters against it."""
        if self.num_channels is not None and self.num_channels != channels:
            raise ValueError(f"{source}: {channels} channels do not match the neuron's {self.num_channels}")
        self.num_channels = int(channels)

    def init_channels(self, channels: int) -> None:
        """Create the per-channel parameters for ``channels`` output channels (idempotent).

        Blocks call it at construction, so parameters exist before an optimiser or ``load_state_dict``.
        """
        if self.v_init.numel() not in (1, channels):
            raise ValueError(f"v_init has {self.v_init.numel()} values for {channels} channels")
        self._set_channels(channels, "channels")
        if not self.shared_param and hasattr(self, "current_decay_min"):
            with torch.no_grad():
                for name in ("current_decay", "voltage_decay"):
                    lo, hi = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
                    value = lo + (hi - lo) * torch.rand(channels, dtype=torch.float32)
                    setattr(self, name, torch.nn.Parameter(self.p_scale * value.to(self.device),
                                                           requires_grad=self.requires_grad))
                    delattr(self, f"{name}_min")
                    delattr(self, f"{name}_max")

    def set_shape(self, shape: Sequence[int]) -> None:
        """Fix the neuron shape ``(C, ...)`` (torch order, no batch/time) before any forward pass."""
        shape = torch.Size(int(s) for s in shape)
        if len(shape) == 0:
            raise ValueError("shape must have at least one (channel) dimension")
        if self.shape is not None and torch.Size(self.shape) != shape:
            raise ValueError(f"shape {tuple(shape)} does not match the neuron's {tuple(self.shape)}")
        self.init_channels(shape[0])
        self.shape = shape
        self.num_neurons = int(np.prod(shape))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """Adopt a per-channel ``v_init`` from the checkpoint; handle the producer-side amplitude of old checkpoints.

        An old ``<prefix>amplitude`` equal to 1 everywhere changes nothing and is dropped; any other
        value is refused with one message that names the key and the migration call.
        """
        v_init = state_dict.get(prefix + "v_init")
        if v_init is not None and v_init.shape != self.v_init.shape:
            self.v_init = torch.empty_like(v_init)
        old = state_dict.get(prefix + "amplitude")
        if old is not None:
            if torch.all(old == 1):
                del state_dict[prefix + "amplitude"]
            else:
                error_msgs.append(
                    f"'{prefix}amplitude' = {old.detach().cpu().numpy().round(4).tolist()} is the spike amplitude of "
                    f"an earlier version, stored on the neuron that fires; now the block that receives the spikes "
                    f"owns it as 'input_amplitude'. Build the receiving blocks with input_amplitude='layer' (or "
                    f"'channel') and load lava_ternary.fold.migrate_state_dict(model, state_dict) instead")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def get_extra_state(self) -> Dict[str, Any]:
        """Keep the neuron shape in the ``state_dict`` so export works after ``load_state_dict``."""
        return {"shape": None if self.shape is None else list(self.shape)}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        """Restore the shape saved by :meth:`get_extra_state`."""
        if state.get("shape") is not None:
            self.set_shape(state["shape"])

    # ------------------------------------------------------------------ parameters
    @property
    def v_th_eff(self) -> int:
        """Threshold in state units (``vThMant << 6``)."""
        return int(fixed.effective_threshold(self.v_th_mant))

    @property
    def v_init_mant(self) -> np.ndarray:
        """Initial voltage in state units (netx ``vInit``): int64 scalar or ``(C,)``."""
        value = torch.round(self.v_init.detach().double() * S_SCALE).cpu().numpy().astype(np.int64)
        return value[0] if value.size == 1 else value

    @property
    def params(self) -> TernaryParams:
        """The integer parameter record of this neuron group (what export writes and Lava runs)."""
        return TernaryParams(i_decay=self.cx_current_decay, v_decay=self.cx_voltage_decay, vth=self.v_th_mant,
                             v_init=self.v_init_mant, reset_mode=self.reset, spike_mode=self.spike_mode,
                             message_bits=2, ref_delay=self.ref_delay)

    @property
    def device_params(self) -> Dict[str, Any]:
        """The TERNARY netx neuron description (docs/architecture.md): :meth:`TernaryParams.to_netx`."""
        return self.params.to_netx()

    # ------------------------------------------------------------------ dynamics
    def _decay(self, decay: torch.Tensor, ndim: int) -> torch.Tensor:
        """Quantised 12-bit decay, viewed per channel when not shared."""
        decay = quantize(decay)
        return decay if decay.numel() == 1 else _channel_view(decay, ndim)

    def _initial_state(self, input: torch.Tensor):
        """``(u0, v0)`` for this call: persistent state if kept and compatible, else ``(0, v_init)``."""
        state_shape = input.shape[:-1]
        v_init = _channel_view(self.v_init, len(state_shape)).to(input.device, input.dtype)
        fresh = (torch.zeros(state_shape, dtype=input.dtype, device=input.device),
                 v_init.expand(state_shape).clone())
        if not self.persistent_state or self.current_state.shape != state_shape:
            return fresh
        return self.current_state, self.voltage_state

    def dynamics(self, input: torch.Tensor, bias: Optional[torch.Tensor] = None,
                 spiking: bool = True):
        """Current and (pre-reset) voltage of the neuron for ``input`` of shape ``(N, C, ..., T)``.

        Parameters
        ----------
        input : torch.Tensor
            Synaptic input in slayer units (``W @ s``).
        bias : torch.Tensor, optional
            Per-channel bias ``(C,)`` added to the voltage every step (a multiple of 1/64).
        spiking : bool
            False runs the integrator without spikes or reset (the Affine readout).
        """
        if input.dim() < 3:
            raise ValueError(f"input must be (batch, channels, ..., time); got shape {tuple(input.shape)}")
        if self.shape is None:
            self.set_shape(input.shape[1:-1])
        elif input.shape[1:-1] != self.shape:
            raise ValueError(f"input shape {tuple(input.shape)} does not match neuron shape {tuple(self.shape)}")
        if self.requires_grad:
            self.clamp()
        u0, v0 = self._initial_state(input)
        ndim = input.dim() - 1
        current = _CurrentDynamics.apply(input, self._decay(self.current_decay, ndim), u0)
        if self.norm is not None:
            current = self.norm(current)
        voltage = _VoltageDynamics.apply(current, self._decay(self.voltage_decay, ndim), v0, bias,
                                         self.v_th_eff, self.reset == "soft",
                                         self.spike_mode == "binary", spiking)
        if self.persistent_state:
            with torch.no_grad():
                self.current_state = current[..., -1].detach().clone()
                last = voltage[..., -1].detach()
                self.voltage_state = self._reset(last, self._spikes(last)) if spiking else last.clone()
        return current, voltage

    def _spikes(self, voltage: torch.Tensor) -> torch.Tensor:
        """Ternary (or binary) spikes of a voltage, without gradient."""
        spikes = (voltage > self.threshold).to(voltage.dtype)
        if self.spike_mode == "ternary":
            spikes = spikes - (voltage < -self.threshold).to(voltage.dtype)
        return spikes

    def _reset(self, voltage: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """Voltage after the reset for spikes of either sign."""
        if self.reset == "soft":
            return voltage - spikes * self.threshold
        return voltage * (spikes == 0)

    def spike(self, voltage: torch.Tensor) -> torch.Tensor:
        """Spikes ``b`` from the pre-reset voltage (then dropout, if any)."""
        out = _TernarySpike.apply(voltage, self.threshold, self.spike_mode == "binary", self.surrogate,
                                  self.tau_rho * cuba.TAU_RHO_MULT, self.scale_rho * cuba.SCALE_RHO_MULT)
        if self.drop is not None:
            out = self.drop(out)
        return out

    def forward(self, input: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Spikes ``b`` of shape ``input.shape`` for synaptic input ``(N, C, ..., T)``."""
        _, voltage = self.dynamics(input, bias)
        return self.spike(voltage)

    def recurrent(self, input: torch.Tensor, weight: torch.Tensor,
                  bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Spikes ``b`` of a recurrent layer: step ``t`` integrates ``input[t] + weight @ b[t-1]`` (``b[-1] = 0``).

        The fed-back spikes arrive one step late, as through Lava's recurrent synapse (its ``a_buff``).
        Every step is a one-step call of the same integer dynamics as :meth:`forward`, so the spikes are
        those of Lava's ``fixed_pt`` model; the gradient flows back through time (through ``u``, ``v``
        and the fed-back spikes) and into ``weight``; the reset is straight-through, as in :meth:`forward`.

        Parameters
        ----------
        input : torch.Tensor
            Synaptic input ``(N, C, T)`` in slayer units (``W @ s`` of the layer's input synapse).
        weight : torch.Tensor
            Recurrent weights ``(C, C)`` in slayer units (multiples of 1/64 for bit-exactness).
        bias : torch.Tensor, optional
            Per-neuron bias ``(C,)`` added to the voltage every step (a multiple of 1/64).
        """
        if input.dim() != 3:
            raise ValueError(f"input must be (batch, neurons, time) for a recurrent layer; got shape "
                             f"{tuple(input.shape)}")
        if self.shape is None:
            self.set_shape(input.shape[1:-1])
        elif input.shape[1:-1] != self.shape:
            raise ValueError(f"input shape {tuple(input.shape)} does not match neuron shape {tuple(self.shape)}")
        neurons = input.shape[1]
        if tuple(weight.shape) != (neurons, neurons):
            raise ValueError(f"recurrent weight must be ({neurons}, {neurons}); got {tuple(weight.shape)}")
        if self.requires_grad:
            self.clamp()
        u, v = self._initial_state(input)
        i_decay, v_decay = self._decay(self.current_decay, 2), self._decay(self.voltage_decay, 2)
        soft, binary = self.reset == "soft", self.spike_mode == "binary"
        feedback_t = weight.transpose(0, 1)
        spikes = input.new_zeros(input.shape[:-1])
        out = []
        for t in range(input.shape[-1]):
            drive = (input[..., t] + spikes @ feedback_t).unsqueeze(-1)
            current = _CurrentDynamics.apply(drive, i_decay, u)
            voltage = _VoltageDynamics.apply(current, v_decay, v, bias, self.v_th_eff, soft, binary, True)
            out.append(self.spike(voltage))
            u, pre = current[..., 0], voltage[..., 0]
            settled = pre.detach()
            v = pre + (self._reset(settled, self._spikes(settled)) - settled)  # the reset, straight-through
            spikes = out[-1][..., 0]
        return torch.cat(out, dim=-1) if out else input.new_zeros(input.shape)
