"""netx files for tests and benchmarks: one layer group as slayer writes it, and the byte-flip mutation
(shared by the test suite and ``benchmarks/netx_read.py`` / ``benchmarks/netx_fuzz.py``)."""
from pathlib import Path
from typing import List, Tuple

import h5py
import numpy as np


def data_spans(path: Path) -> List[Tuple[int, int]]:
    """(offset, size) of every contiguous dataset's bytes in the file: flips there change values."""
    found = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.append((obj.id.get_offset(), obj.id.get_storage_size()))
                          if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None else None)
    return [span for span in found if span[1] > 0]


def flip_bytes(data: bytes, spans: List[Tuple[int, int]], rng: np.random.Generator) -> bytes:
    """1-4 flipped bytes (half of them inside a dataset's values) and, one time in ten, a truncation."""
    raw = bytearray(data)
    for _ in range(rng.integers(1, 5)):
        if rng.random() < 0.5:
            offset, size = spans[rng.integers(len(spans))]
            position = offset + rng.integers(size)
        else:
            position = rng.integers(len(raw))
        raw[position] ^= int(rng.integers(1, 256))
    if rng.random() < 0.1:
        raw = raw[: rng.integers(len(raw))]
    return bytes(raw)


def layer_group(root: h5py.Group, index: int, ltype: str, shape, neuron=None, **datasets) -> h5py.Group:
    """Layer ``index`` of type ``ltype`` (fixed-length bytes, as slayer writes it) with its datasets and neuron."""
    group = root.create_group(str(index))
    group.create_dataset("type", (1,), "S10", [ltype.encode()])
    group.create_dataset("shape", data=np.array(shape))
    for key, value in datasets.items():
        group.create_dataset(key, data=value)
    if neuron is not None:
        for key, value in neuron.items():
            group.create_dataset(f"neuron/{key}", data=value)
    return group
