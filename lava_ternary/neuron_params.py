"""The one parameter record of a TERNARY neuron group: :class:`TernaryParams`.

Every consumer of a neuron's integer parameters goes through this record instead of spelling the
names its own way: the torch neuron produces it (:attr:`lava_ternary.neuron.Ternary.params`), export
writes its netx keys (:meth:`TernaryParams.to_netx`), the reader rebuilds it from a file
(:meth:`TernaryParams.from_netx`, on :attr:`lava_ternary.netfile.NeuronSpec.ternary`), the Lava loader
turns it into :class:`lava_ternary.proc.TernaryCUBA` arguments (:meth:`TernaryParams.process_args`),
and the simulator and tests into :func:`lava_ternary.fixed.neuron_step` keywords
(:meth:`TernaryParams.step_args`). Units are those of :mod:`lava_ternary.fixed`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Union

import numpy as np

__all__ = ["TernaryParams"]

IntOrChannels = Union[int, np.ndarray]


@dataclass(frozen=True)
class TernaryParams:
    """Integer parameters of a TERNARY neuron group (scalars, or one value per channel where noted).

    Attributes
    ----------
    i_decay, v_decay : int or np.ndarray
        12-bit decay amounts (netx ``iDecay``/``vDecay``; 4096 forgets everything), scalar or per channel.
    vth : int
        Threshold mantissa (netx ``vThMant``; the effective threshold is ``vth << 6``).
    v_init : int or np.ndarray
        Voltage at the start of every sample in state units (netx ``vInit``), scalar or per channel.
    reset_mode : str
        ``'hard'`` (zero the voltage on a spike) or ``'soft'`` (subtract the threshold).
    spike_mode : str
        ``'ternary'`` (+1 and -1) or ``'binary'`` (+1 only).
    message_bits : int
        Bits of the outgoing messages (2 carry a signed spike).
    ref_delay : int
        Refractory delay (netx ``refDelay``; recorded, 0 for this neuron).
    """

    i_decay: IntOrChannels
    v_decay: IntOrChannels
    vth: int
    v_init: IntOrChannels = 0
    reset_mode: str = "hard"
    spike_mode: str = "ternary"
    message_bits: int = 2
    ref_delay: int = 0

    @property
    def soft_reset(self) -> bool:
        """True when a spike subtracts the threshold instead of zeroing the voltage."""
        return self.reset_mode == "soft"

    @property
    def binary(self) -> bool:
        """True when the neuron only fires +1."""
        return self.spike_mode == "binary"

    @classmethod
    def from_netx(cls, group: Mapping[str, Any]) -> "TernaryParams":
        """The record of a validated ``neuron`` group (:class:`lava_ternary.netfile.NeuronSpec` params)."""
        return cls(i_decay=group["iDecay"], v_decay=group["vDecay"], vth=int(group["vThMant"]),
                   v_init=group.get("vInit", 0), reset_mode=group.get("resetMode", "hard"),
                   spike_mode=group.get("spikeMode", "ternary"), message_bits=int(group.get("messageBits", 2)),
                   ref_delay=int(group.get("refDelay", 0)))

    def to_netx(self) -> Dict[str, Any]:
        """The netx ``neuron`` datasets (TERNARY schema, ``docs/netx_schema.md``)."""
        return {"type": "TERNARY", "iDecay": self.i_decay, "vDecay": self.v_decay, "vThMant": self.vth,
                "refDelay": self.ref_delay, "resetMode": self.reset_mode, "spikeMode": self.spike_mode,
                "vInit": self.v_init, "messageBits": self.message_bits, "gradedSpike": False}

    def process_args(self) -> Dict[str, Any]:
        """Keyword arguments of :class:`lava_ternary.proc.TernaryCUBA` (besides shape, bias and timing)."""
        return {"i_decay": self.i_decay, "v_decay": self.v_decay, "vth": self.vth, "v_init": self.v_init,
                "reset_mode": self.reset_mode, "spike_mode": self.spike_mode}

    def step_args(self) -> Dict[str, Any]:
        """Keyword arguments of :func:`lava_ternary.fixed.neuron_step` (besides the bias)."""
        return {"i_decay": self.i_decay, "v_decay": self.v_decay, "vth": self.vth, "soft_reset": self.soft_reset,
                "binary": self.binary}
