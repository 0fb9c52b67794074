"""``SpikeRecorder``: a sink that writes every step's input into a ``.npy`` memory map on disk.

Lava's ``RingBuffer`` sink returns its buffer through ``Var.get()``, which the runtime transfers one
element at a time (about 15 s for 400k values on this machine). The recorder's model writes into a
shared file mapping instead, so the host reads a run's spikes right after it, at disk speed.
"""
from __future__ import annotations

import os
from typing import Tuple, Union

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

PathLike = Union[str, "os.PathLike[str]"]


class SpikeRecorder(AbstractProcess):
    """Record ``shape`` values per step for ``steps`` steps into the ``.npy`` file ``path`` (int32).

    The file is created here (zeros); step ``t`` (from 1) is written to ``[..., t - 1]``. Read it with
    :meth:`read` after the run.

    Parameters
    ----------
    shape : tuple of int
        Shape of the input port.
    steps : int
        Number of steps to record.
    path : str or path-like
        The ``.npy`` file to create.
    """

    def __init__(self, *, shape: Tuple[int, ...], steps: int, path: PathLike) -> None:
        shape, steps, path = tuple(int(s) for s in shape), int(steps), os.fspath(path)
        if steps < 1:
            raise ValueError(f"steps={steps} must be >= 1")
        np.lib.format.open_memmap(path, mode="w+", dtype=np.int32, shape=shape + (steps,)).flush()
        super().__init__(shape=shape, steps=steps, path=path)
        self.a_in = InPort(shape=shape)

    def read(self) -> np.ndarray:
        """The recorded values ``shape + (steps,)`` (a copy)."""
        return np.array(np.load(self.proc_params["path"], mmap_mode="r"))


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PySpikeRecorderModel(PyLoihiProcessModel):
    """Writes each received vector into the shared file mapping."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.record = None

    def run_spk(self) -> None:
        data = self.a_in.recv()
        if self.record is None:
            self.record = np.load(self.proc_params["path"], mmap_mode="r+")
        steps = self.record.shape[-1]
        if self.time_step <= steps:
            self.record[..., self.time_step - 1] = data
