"""CIFAR-10/100 python batches read without running code (:func:`lava_ternary.safe_pickle.load_restricted`).

torchvision's CIFAR classes call ``pickle.load`` on the folder's files, so a crafted batch file runs
code. This reader takes the file names and md5 sums from torchvision's classes but unpickles every
file (batches and meta) through the restricted reader, with or without the checksum check, and
checks the layout (``data`` ``[N, 3072]`` uint8, one label per row in ``0..classes-1``, the meta
file's class names) before using it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from lava_ternary.safe_pickle import load_restricted

PIXELS = 3 * 32 * 32


class CifarFileError(FileNotFoundError):
    """A CIFAR file that is missing or is not the published one (md5); the message names it."""


def _spec(name: str):
    from torchvision.datasets import CIFAR10, CIFAR100
    return (CIFAR10, 10, "label_names") if name == "cifar10" else (CIFAR100, 100, "fine_label_names")


def _check_files(files: List[Tuple[Path, str]], verify_checksums: bool, name: str) -> None:
    """All files present (and, when verifying, equal to the published ones) before any is unpickled."""
    from torchvision.datasets.utils import check_integrity
    for path, md5 in files:
        if not path.is_file():
            raise CifarFileError(f"file {str(path)!r} is missing")
        if verify_checksums and not check_integrity(str(path), md5):
            raise CifarFileError(f"file {str(path)!r} is not the published {name} file (md5 differs; for a "
                                 f"re-packed copy pass --no-verify-checksums)")


def _entry(path: Path, name: str) -> Dict[str, Any]:
    entry = load_restricted(path, encoding="latin1")
    if not isinstance(entry, dict):
        raise ValueError(f"file {str(path)!r}: a {name} file holds a dict, not a {type(entry).__name__}")
    return entry


def _labels(entry: Dict[str, Any], path: Path, rows: int, classes: int) -> np.ndarray:
    key = "labels" if "labels" in entry else "fine_labels"
    try:
        labels = np.asarray(entry[key])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"file {str(path)!r}: key {key!r} is missing or not a list of labels") from exc
    if labels.shape != (rows,) or labels.dtype.kind not in "iu" or (rows and not
                                                                      0 <= labels.min() <= labels.max() < classes):
        raise ValueError(f"file {str(path)!r}: key {key!r} must hold {rows} integer labels in 0..{classes - 1}")
    return labels.astype(np.int64)


def read_cifar(name: str, train: bool, root: os.PathLike, verify_checksums: bool = True
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Read the training or test batches of CIFAR-10 (``'cifar10'``) or CIFAR-100 (``'cifar100'``).

    Parameters
    ----------
    name : str
        ``'cifar10'`` or ``'cifar100'``.
    train : bool
        The training batches (else the test batch).
    root : path
        The folder holding ``cifar-10-batches-py/`` or ``cifar-100-python/``.
    verify_checksums : bool
        Check every file against torchvision's published md5 sum.

    Returns
    -------
    (images, labels)
        ``[N, 3, 32, 32]`` uint8 pixels and ``[N]`` int64 labels.

    Raises
    ------
    CifarFileError
        (a ``FileNotFoundError``) a file is missing or its md5 differs.
    ValueError
        A file that is not plain CIFAR data (:class:`lava_ternary.safe_pickle.UnsafePickleError`
        for a pickle naming anything but numpy arrays), or whose layout differs; names file and key.
    """
    spec, classes, names_key = _spec(name)
    folder = Path(root) / spec.base_folder
    meta_path = folder / spec.meta["filename"]
    batches = [(folder / filename, md5) for filename, md5 in (spec.train_list if train else spec.test_list)]
    _check_files([(meta_path, spec.meta["md5"])] + batches, verify_checksums, name)
    meta = _entry(meta_path, name)
    names = meta.get(names_key)
    if not isinstance(names, list) or len(names) != classes:
        raise ValueError(f"file {str(meta_path)!r}: key {names_key!r} must list the {classes} class names")
    images, labels = [], []
    for path, _ in batches:
        entry = _entry(path, name)
        pixels = entry.get("data")
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 \
                or pixels.shape[1] != PIXELS:
            raise ValueError(f"file {str(path)!r}: key 'data' must be a uint8 array [N, {PIXELS}]")
        images.append(pixels)
        labels.append(_labels(entry, path, len(pixels), classes))
    x = torch.from_numpy(np.concatenate(images).reshape(-1, 3, 32, 32))
    return x, torch.from_numpy(np.concatenate(labels))
