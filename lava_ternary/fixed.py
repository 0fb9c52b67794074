"""The one integer definition of a ternary/binary CUBA neuron step (numpy only, no torch).

Loihi / Lava ``fixed_pt`` arithmetic (``lava.proc.lif.models.AbstractPyLifModelFixed``) with a
symmetric threshold. Used by the Lava process models (:mod:`lava_ternary.proc.models`) and by the
fast batched simulator (:mod:`lava_ternary.sim`); the torch training neuron
(:mod:`lava_ternary.neuron`) is tested against it spike for spike.

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


def shift_toward_zero(x: np.ndarray, bits: int) -> np.ndarray:
    """``sign(x) * (|x| >> bits)``: the sign-magnitude right shift Loihi uses for decays."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * np.right_shift(np.abs(x), bits)


def decay(x: np.ndarray, amount: np.ndarray | int) -> np.ndarray:
    """Leak a state by a 12-bit decay ``amount``, rounding toward zero (int64 result)."""
    return shift_toward_zero(np.asarray(x, dtype=np.int64) * (DECAY_UNITY - np.asarray(amount, dtype=np.int64)),
                             DECAY_SHIFT)


def wrap_current(u: np.ndarray) -> np.ndarray:
    """24-bit wrap of the current exactly as Lava does it (``2**23`` itself is left unwrapped)."""
    u = np.where(u > MAX_STATE, u - 2 * MAX_STATE, u)
    return np.where(u <= -MAX_STATE, u + 2 * MAX_STATE, u)


def saturate_voltage(v: np.ndarray) -> np.ndarray:
    """24-bit saturation of the voltage to ``[-(2**23 - 1), 2**23 - 1]``."""
    return np.clip(v, -(MAX_STATE - 1), MAX_STATE - 1)


def effective_threshold(vth: np.ndarray | int) -> np.ndarray:
    """Threshold in state units: the 17-bit mantissa shifted left by 6."""
    return np.left_shift(np.asarray(vth, dtype=np.int64), VTH_SHIFT)


def spike(v: np.ndarray, vth_eff: np.ndarray | int, binary: bool = False) -> np.ndarray:
    """Ternary (or binary) spikes in {-1, 0, +1} from the voltage; strict comparisons as Loihi."""
    pos = (v > vth_eff).astype(np.int64)
    if binary:
        return pos
    return pos - (v < -np.asarray(vth_eff)).astype(np.int64)


def reset_voltage(v: np.ndarray, s: np.ndarray, vth_eff: np.ndarray | int, soft: bool = False) -> np.ndarray:
    """Hard reset (``v = 0`` where spiking) or soft reset (``v -= s * vth``)."""
    if soft:
        return v - s * np.asarray(vth_eff, dtype=np.int64)
    return np.where(s != 0, 0, v)


def neuron_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, *, i_decay: int | np.ndarray,
                v_decay: int | np.ndarray, vth: int | np.ndarray, bias: int | np.ndarray = 0,
                soft_reset: bool = False, binary: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance ``(u, v)`` by one step with synaptic input ``a_in``; return ``(u, v, s)`` as int64.

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
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    a_in = np.asarray(a_in, dtype=np.int64)
    u = wrap_current(decay(u, i_decay) + np.left_shift(a_in, ACT_SHIFT))
    v = saturate_voltage(decay(v, v_decay) + u + np.asarray(bias, dtype=np.int64))
    vth_eff = effective_threshold(vth)
    s = spike(v, vth_eff, binary)
    return u, reset_voltage(v, s, vth_eff, soft_reset), s
