"""The package's exceptions: one type per kind of bad input, each naming where the fault is."""
from __future__ import annotations

from typing import Optional


class LavaTernaryError(ValueError):
    """Base class for bad input to lava-ternary (a ``ValueError``, so callers may catch either)."""


class NetxFormatError(LavaTernaryError):
    """A netx HDF5 file that cannot be read as a network; the message names file, layer and key.

    Parameters
    ----------
    file : str
        Path of the file at fault.
    layer : int or None
        Index of the layer at fault (``None`` for file-level problems).
    key : str or None
        HDF5 key at fault, relative to the layer group (for example ``'neuron/vThMant'``).
    problem : str
        What is wrong, in a few words.
    """

    def __init__(self, file: str, layer: Optional[int], key: Optional[str], problem: str):
        self.file, self.layer, self.key, self.problem = str(file), layer, key, problem
        where = [f"file {self.file!r}"]
        if layer is not None:
            where.append(f"layer {layer}")
        if key is not None:
            where.append(f"key {key!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


class RangeError(LavaTernaryError):
    """A parameter that cannot be represented on Loihi (threshold, weight, state range); names layer and value."""


class CheckpointError(LavaTernaryError):
    """A checkpoint that does not belong to the model it is loaded into, or has an unknown format."""
