"""``TernaryCUBA``: Lava's ``TernaryLIF`` with what deployment needs (sample resets, v_init, modes).

Built on :class:`lava.proc.lif.process.TernaryLIF` (same ports ``a_in``/``s_out`` and Vars ``u``,
``v``, ``du``, ``dv``, ``bias_mant``, ``bias_exp``, ``vth_hi``, ``vth_lo``) so that anything that
accepts a TernaryLIF accepts this process. Differences, all needed for bit-exact parity with the
slayer-trained network (:mod:`lava_ternary.fixed` is the one definition of the arithmetic):

* decays are in the netx convention: ``du``/``dv`` hold the 12-bit decay *amounts* ``iDecay`` and
  ``vDecay`` (4096 forgets everything), not Lava LIF's ``iDecay - 1``, and have the neuron shape so
  that they may differ per channel;
* the threshold is symmetric (``vth_lo = -vth_hi``), ``spike_mode='binary'`` fires +1 only;
* ``reset_mode`` ``'hard'`` (``v = 0``) or ``'soft'`` (``v -= s * vth``) on a spike;
* ``v_init`` (scalar, per channel or per neuron) is the voltage at the start of every sample;
* ``reset_interval``/``reset_offset``: at every step ``t`` (counted from 1) with
  ``t % reset_interval == reset_offset % reset_interval`` the neuron *restarts*: the input that
  arrives in that step is discarded, ``u = 0``, ``v = v_init`` and no spike is sent. This is the
  Lava image of slayer's ``delay_shift`` (a block's output at time 0 is 0), which is what makes
  back-to-back samples match independent torch samples exactly (see ``docs/netx_schema.md``);
* ``input_delay`` (per neuron): behind a delayed dense synapse (netx ``delay``, Lava ``DelayDense``) the
  input of the first ``input_delay`` steps after a reset is discarded too: it is the previous sample's
  input still in the synapse's delay buffer, where the torch block shifts in zeros.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
from lava.magma.core.process.process import LogConfig
from lava.magma.core.process.variable import Var
from lava.proc.lif.process import TernaryLIF

from lava_ternary import fixed

ArrayLike = Union[int, float, np.ndarray, list]


def broadcast_to_shape(value: ArrayLike, shape: Tuple[int, ...], name: str) -> np.ndarray:
    """Broadcast a scalar, per-channel (last axis, WHC) or per-neuron value to ``shape``."""
    arr = np.asarray(value)
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ValueError(f"{name}: shape {arr.shape} cannot be broadcast to the neuron shape {shape} "
                         f"(give a scalar, one value per channel (last axis) or one per neuron)") from None


class TernaryCUBA(TernaryLIF):
    """Ternary (or binary) current-based LIF neurons with sample resets, for netx ``TERNARY`` layers.

    Parameters
    ----------
    shape : tuple of int
        Neuron shape (WHC for conv layers, ``(N,)`` for dense).
    i_decay, v_decay : int or array
        12-bit current/voltage decay amounts in 0..4096 (netx ``iDecay``/``vDecay``); scalar, per
        channel (last axis) or per neuron.
    vth : int
        Threshold mantissa 1 .. 2**17 - 1; the effective threshold is ``vth << 6``.
    bias_mant : int or array
        Bias mantissa (scalar, per channel or per neuron); effective bias ``bias_mant << bias_exp``.
    bias_exp : int
        Bias exponent (netx uses 6).
    v_init : int or array
        Voltage in state units at the start of the run and after every reset (scalar, per channel
        (last axis) or per neuron).
    reset_interval : int or None
        Restart the neuron every ``reset_interval`` steps (one sample); None never restarts.
    reset_offset : int
        Phase of the restart: steps ``t`` with ``t % reset_interval == reset_offset % reset_interval``.
    reset_mode : str
        ``'hard'`` or ``'soft'``.
    spike_mode : str
        ``'ternary'`` (spikes in {-1, 0, +1}) or ``'binary'`` ({0, +1}).
    input_delay : int or array
        Axonal delay (steps) of each neuron's delayed synapse: the input of window steps
        ``1 .. input_delay`` after a reset is discarded (needs ``reset_interval``).
    name, log_config
        As for every Lava process.
    """

    def __init__(self, *, shape: Tuple[int, ...], i_decay: ArrayLike = 4096, v_decay: ArrayLike = 4096, vth: int = 1,
                 bias_mant: ArrayLike = 0, bias_exp: int = 6, v_init: ArrayLike = 0,
                 reset_interval: Optional[int] = None, reset_offset: int = 0, reset_mode: str = "hard",
                 spike_mode: str = "ternary", input_delay: ArrayLike = 0, name: Optional[str] = None,
                 log_config: Optional[LogConfig] = None) -> None:
        shape = tuple(int(s) for s in shape)
        decays = {}
        for key, val in (("i_decay", i_decay), ("v_decay", v_decay)):
            decays[key] = broadcast_to_shape(val, shape, key).astype(np.int64)
            if np.any(decays[key] < 0) or np.any(decays[key] > fixed.DECAY_UNITY):
                raise ValueError(f"{key}={val} is outside 0..{fixed.DECAY_UNITY}")
        if not 1 <= int(vth) <= fixed.MAX_VTH_MANT:
            raise ValueError(f"vth={vth} is outside 1..{fixed.MAX_VTH_MANT}")
        if reset_mode not in fixed.RESET_MODES:
            raise ValueError(f"reset_mode={reset_mode!r} is not one of {fixed.RESET_MODES}")
        if spike_mode not in fixed.SPIKE_MODES:
            raise ValueError(f"spike_mode={spike_mode!r} is not one of {fixed.SPIKE_MODES}")
        if reset_interval is not None and int(reset_interval) < 1:
            raise ValueError(f"reset_interval={reset_interval} must be >= 1 or None")
        v_init_full = broadcast_to_shape(v_init, shape, "v_init").astype(np.int64)
        if np.any(np.abs(v_init_full) >= fixed.MAX_STATE):
            raise ValueError(f"v_init exceeds the 24-bit state range (|v_init| < {fixed.MAX_STATE})")
        bias_full = broadcast_to_shape(bias_mant, shape, "bias_mant")
        delay_full = broadcast_to_shape(input_delay, shape, "input_delay").astype(np.int64)
        if np.any(delay_full < 0):
            raise ValueError(f"input_delay={input_delay} must be >= 0")
        super().__init__(shape=shape, u=0, v=v_init_full, du=0, dv=0,
                         bias_mant=bias_full, bias_exp=int(bias_exp), vth_hi=int(vth), vth_lo=-int(vth),
                         name=name, log_config=log_config)
        self.du = Var(shape=shape, init=decays["i_decay"])
        self.dv = Var(shape=shape, init=decays["v_decay"])
        self.v_init = Var(shape=shape, init=v_init_full)
        self.proc_params.overwrite("reset_interval", None if reset_interval is None else int(reset_interval))
        self.proc_params.overwrite("reset_offset", int(reset_offset))
        self.proc_params.overwrite("soft_reset", reset_mode == "soft")
        self.proc_params.overwrite("binary", spike_mode == "binary")
        self.proc_params.overwrite("input_delay", delay_full if np.any(delay_full) else None)
