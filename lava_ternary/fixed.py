"""The one integer definition of a ternary/binary CUBA neuron step (numpy only, no torch).

Loihi / Lava ``fixed_pt`` arithmetic (``lava.proc.lif.models.AbstractPyLifModelFixed``) with a
symmetric threshold. The functions are plain arithmetic on int64 numpy arrays *or* scalars (listed
in :data:`JITABLE`): the Lava process models (:mod:`lava_ternary.proc.models`) call them on arrays, and the fast batched
simulator (:mod:`lava_ternary.sim.kernel`) registers the very same functions with numba
(``register_jitable``) and compiles them into its per-neuron loop, so there is one definition of the
step; the torch training neuron (:mod:`lava_ternary.neuron`) is tested against it spike for spike.

Units: ``u`` and ``v`` are 24-bit state integers (a float value ``x`` of slayer is ``x * 4096``);
``a_in`` is the synaptic accumulation in weight-mantissa units (``W_int @ s``); ``i_decay`` and
``v_decay`` are 12-bit decay amounts (4096 = forget everything, 0 = no leak), as netx's
``iDecay``/``vDecay``; ``vth`` is the threshold mantissa (effective threshold ``vth << 6``);
``bias`` is the effective bias in state units (``bias_mant << 6``).

One step, in order:
  1. ``u = wrap24(toward_zero(u * (4096 - i_decay) / 4096) + (a_in << 6))``
  2. ``v = saturate24(toward_zero(v * (4096 - v_decay) / 4096) + u + bias)``
  3. ``s = +1 if v > vth << 6``; ``s = -1 if v < -(vth << 6)`` (ternary mode only); else 0
  4. hard reset: ``v = 0`` where ``s != 0``; soft reset: ``v -= s * (vth << 6)``. ``u`` is not reset.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
VTH_SHIFT = 6
ACT_SHIFT = 6
STATE_BITS = 24
MAX_STATE = 1 << (STATE_BITS - 1)
MAX_VTH_MANT = (1 << 17) - 1
RESET_MODES = ("hard", "soft")
SPIKE_MODES = ("ternary", "binary")


def shift_toward_zero(x, bits):
    """``sign(x) * (|x| >> bits)``: the sign-magnitude right shift Loihi uses for decays."""
    return np.sign(x) * (np.abs(x) >> bits)


def decay(x, amount):
    """Leak a state by a 12-bit decay ``amount``, rounding toward zero."""
    return shift_toward_zero(x * (DECAY_UNITY - amount), DECAY_SHIFT)


def wrap_current(u):
    """24-bit wrap of the current exactly as Lava does it (``2**23`` itself is left unwrapped)."""
    return u - (2 * MAX_STATE) * (u > MAX_STATE) + (2 * MAX_STATE) * (u <= -MAX_STATE)


def saturate_voltage(v):
    """24-bit saturation of the voltage to ``[-(2**23 - 1), 2**23 - 1]``."""
    return np.minimum(np.maximum(v, -(MAX_STATE - 1)), MAX_STATE - 1)


def effective_threshold(vth):
    """Threshold in state units: the 17-bit mantissa shifted left by 6."""
    return vth << VTH_SHIFT


def spike(v, vth_eff, binary=False):
    """Ternary (or binary) spikes in {-1, 0, +1} from the voltage; strict comparisons as Loihi."""
    pos = 1 * (v > vth_eff)
    if binary:
        return pos
    return pos - 1 * (v < -vth_eff)


def reset_voltage(v, s, vth_eff, soft=False):
    """Hard reset (``v = 0`` where spiking) or soft reset (``v -= s * vth``)."""
    if soft:
        return v - s * vth_eff
    return v * (s == 0)


def step(u, v, a_in, i_decay, v_decay, vth, bias, soft_reset, binary):
    """One neuron step on int64 scalars or arrays (numpy, or inside numba-compiled loops); see the module doc."""
    u = wrap_current(decay(u, i_decay) + (a_in << ACT_SHIFT))
    v = saturate_voltage(decay(v, v_decay) + u + bias)
    vth_eff = effective_threshold(vth)
    s = spike(v, vth_eff, binary)
    return u, reset_voltage(v, s, vth_eff, soft_reset), s


#: The functions numba compiles (:mod:`lava_ternary.sim.kernel` registers them); importing this module
#: does not import numba, so file readers (``lava-ternary info``) stay light.
JITABLE = (shift_toward_zero, decay, wrap_current, saturate_voltage, effective_threshold, spike, reset_voltage, step)


def neuron_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, *, i_decay: int | np.ndarray,
                v_decay: int | np.ndarray, vth: int | np.ndarray, bias: int | np.ndarray = 0,
                soft_reset: bool = False, binary: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance ``(u, v)`` by one step with synaptic input ``a_in``; return ``(u, v, s)`` as int64 arrays.

    Parameters
    ----------
    u, v : np.ndarray
        Current and voltage state (24-bit integers), any shape; broadcast with the parameters.
    a_in : np.ndarray
        Synaptic accumulation ``W_int @ s`` in weight-mantissa units.
    i_decay, v_decay : int or np.ndarray
        12-bit decay amounts (netx ``iDecay``/``vDecay``).
    vth : int or np.ndarray
        Threshold mantissa (netx ``vThMant``), 1 .. 2**17 - 1.
    bias : int or np.ndarray
        Effective bias in state units (``bias_mant << bias_exp``).
    soft_reset : bool
        Subtract the threshold on a spike instead of zeroing the voltage.
    binary : bool
        Fire only on the positive threshold.
    """
    ints = [np.asarray(x, dtype=np.int64) for x in (u, v, a_in, i_decay, v_decay, vth, bias)]
    return step(*ints, bool(soft_reset), bool(binary))
