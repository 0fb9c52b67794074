"""CPU ProcessModels of :class:`~lava_ternary.proc.process.TernaryCUBA` (numpy only, never torch).

* ``fixed_pt``: bit-accurate; one step is :func:`lava_ternary.fixed.neuron_step`, the same integer
  definition the batched simulator and the torch tests use.
* ``floating_pt``: the same equations in float64 without rounding toward zero, 24-bit wrap or
  saturation; within the tolerance stated in ``docs/netx_schema.md`` of the fixed model.

Both send signed spikes as integers (``int32``; never ``bool``, which would turn -1 into +1).
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_ternary import fixed
from lava_ternary.proc.process import TernaryCUBA


class _AbstractTernaryCUBAModel(PyLoihiProcessModel):
    """Shared sample-reset logic: a reset step discards its input, restores (0, v_init), sends 0."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=2)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        interval = proc_params.get("reset_interval")
        self.reset_interval = interval
        self.reset_phase = None if interval is None else proc_params.get("reset_offset", 0) % interval
        self.soft_reset = bool(proc_params.get("soft_reset", False))
        self.binary = bool(proc_params.get("binary", False))
        delay = proc_params.get("input_delay")
        self.input_delay = None if delay is None or interval is None else np.asarray(delay)

    def is_reset_step(self) -> bool:
        """True on the steps that start a new sample."""
        return self.reset_interval is not None and self.time_step % self.reset_interval == self.reset_phase

    def step(self, a_in: np.ndarray) -> np.ndarray:
        """Advance the state by one step of synaptic input; return the spikes."""
        raise NotImplementedError

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        if self.is_reset_step():
            self.u[:] = 0
            self.v[:] = self.v_init
            self.s_out.send(np.zeros(self.s_out.shape, dtype=np.int32))
            return
        if self.input_delay is not None:  # the previous sample's input still in a delayed synapse
            position = (self.time_step - self.reset_phase) % self.reset_interval
            a_in = np.where(position <= self.input_delay, 0, a_in)
        self.s_out.send(self.step(a_in))


@implements(proc=TernaryCUBA, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTernaryCUBAModelFixed(_AbstractTernaryCUBAModel):
    """Bit-accurate fixed-point model (24-bit u wrap, v saturation, toward-zero decays)."""

    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v_init: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=4)
    vth_hi: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    vth_lo: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=18)

    def effective_bias(self) -> np.ndarray:
        """``bias_mant << bias_exp`` (or ``>>`` for a negative exponent), as Lava's LIF scales it."""
        mant = self.bias_mant.astype(np.int64)
        exp = self.bias_exp.astype(np.int64)
        return np.where(exp >= 0, np.left_shift(mant, np.maximum(exp, 0)), np.right_shift(mant, np.maximum(-exp, 0)))

    def step(self, a_in: np.ndarray) -> np.ndarray:
        u, v, s = fixed.neuron_step(self.u, self.v, a_in, i_decay=self.du, v_decay=self.dv, vth=self.vth_hi,
                                    bias=self.effective_bias(), soft_reset=self.soft_reset, binary=self.binary)
        self.u[:] = u
        self.v[:] = v
        return s.astype(np.int32)


@implements(proc=TernaryCUBA, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTernaryCUBAModelFloat(_AbstractTernaryCUBAModel):
    """The same equations in float64 (state units), without rounding, wrap or saturation."""

    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    v_init: np.ndarray = LavaPyType(np.ndarray, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, float)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, float)
    vth_hi: np.ndarray = LavaPyType(np.ndarray, float)
    vth_lo: np.ndarray = LavaPyType(np.ndarray, float)

    def step(self, a_in: np.ndarray) -> np.ndarray:
        self.u[:] = self.u * (1.0 - self.du / fixed.DECAY_UNITY) + a_in * float(1 << fixed.ACT_SHIFT)
        self.v[:] = self.v * (1.0 - self.dv / fixed.DECAY_UNITY) + self.u + self.bias_mant * 2.0 ** self.bias_exp
        vth_eff = self.vth_hi * float(1 << fixed.VTH_SHIFT)
        s = fixed.spike(self.v, vth_eff, self.binary)
        self.v[:] = fixed.reset_voltage(self.v, s, vth_eff, self.soft_reset)
        return s.astype(np.int32)
