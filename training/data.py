"""Datasets for ternary SNN training: digits (default), MNIST, Fashion-MNIST, CIFAR-10/100, N-MNIST.

Every sample is a float tensor ``[C, H, W, T]`` holding **integer** values, because the deployed
network takes integer graded input (``docs/architecture.md``):

- static images are kept as integer intensity levels: digits ``0..16`` (as shipped by scikit-learn),
  MNIST / Fashion-MNIST / CIFAR ``0..15`` (the 8-bit pixel shifted right by 4 bits);
- ``encoding='direct'`` repeats the level image over the ``T`` steps (the paper's encoding);
- ``encoding='rate'`` draws Bernoulli spikes with probability ``level / max_level``; with
  ``signed=True`` (ternary networks) the value ``r = 2 * level / max_level - 1`` gives a ``sign(r)``
  spike with probability ``|r|``, so dark pixels send ``-1`` and bright ones ``+1``;
- N-MNIST events are binned to ``T`` equal time bins over each recording: two channels (OFF, ON)
  of ``{0, 1}`` for binary networks, or one channel of ``sign(#ON - #OFF)`` for ternary networks.

Local folders (nothing is downloaded; a missing folder raises :class:`DatasetNotFoundError` saying
what to put where):

- MNIST: ``ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (uncompressed idx files);
- Fashion-MNIST: the same under ``ROOT/FashionMNIST/raw/``;
- CIFAR-10: ``ROOT/cifar-10-batches-py/`` (python version); CIFAR-100: ``ROOT/cifar-100-python/``
  (unpickled by :mod:`training.cifar` through a restricted reader: numpy arrays and plain data only);
- N-MNIST: ``ROOT/NMNIST/{Train,Test}/<digit>/*.bin`` (the published 40-bit event files).

Splits are ``'train'``, ``'val'`` (a fixed stratified 10 % of the training data) and ``'test'``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from training.cifar import CifarFileError, read_cifar

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "nmnist")
ENCODINGS = ("direct", "rate")
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1
DIGITS_TEST_FRACTION = 0.2
SPLIT_SEED = 0
NMNIST_SIZE = 34


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's local folder or files are missing; the message says what to put where."""


@dataclass(frozen=True)
class DatasetInfo:
    """Shape and value range of a dataset's encoded samples.

    Parameters
    ----------
    name : str
        Dataset name (one of :data:`DATASETS`).
    shape : tuple of int
        ``(C, H, W)`` of one encoded time step.
    num_classes : int
        Number of labels.
    max_level : int
        Largest absolute input value a network receives (integer graded input).
    pixel_levels : int
        Largest stored intensity level of the images (0 for event data).
    """

    name: str
    shape: Tuple[int, int, int]
    num_classes: int
    max_level: int
    pixel_levels: int = 0


def default_root() -> Path:
    """The data folder: ``$LAVA_TERNARY_DATA`` or ``./data``."""
    return Path(os.environ.get("LAVA_TERNARY_DATA", "data"))


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")


def _stratified_split(labels: np.ndarray, fraction: float) -> Tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` of a fixed stratified split (scikit-learn, seed :data:`SPLIT_SEED`)."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(labels))
    keep, held = train_test_split(idx, test_size=fraction, stratify=labels, random_state=SPLIT_SEED)
    return np.sort(keep), np.sort(held)


def _select(images: torch.Tensor, labels: torch.Tensor, split: str, base: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Carve ``'train'``/``'val'`` out of a training set (``base == 'train'``); pass test sets through."""
    if base == "test":
        return images, labels
    keep, held = _stratified_split(labels.numpy(), VAL_FRACTION)
    idx = torch.from_numpy(keep if split == "train" else held)
    return images[idx], labels[idx]


def _digits(split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn digits as ``[N, 1, 8, 8]`` integer levels 0..16 with a fixed stratified split."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.int64)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, test_idx = _stratified_split(bunch.target, DIGITS_TEST_FRACTION)
    if split == "test":
        idx = torch.from_numpy(test_idx)
        return images[idx], labels[idx]
    return _select(images[torch.from_numpy(train_idx)], labels[torch.from_numpy(train_idx)], split, "train")


def _vision_class(name: str):
    """The torchvision dataset class for MNIST / Fashion-MNIST (CIFAR is read by :mod:`training.cifar`)."""
    from torchvision import datasets
    return datasets.MNIST if name == "mnist" else datasets.FashionMNIST


_EXPECTED = {
    "mnist": "MNIST/raw/ with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
             "t10k-labels-idx1-ubyte (uncompressed)",
    "fashion-mnist": "FashionMNIST/raw/ with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                     "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (uncompressed)",
    "cifar10": "cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta from cifar-10-python.tar.gz)",
    "cifar100": "cifar-100-python/ (train, test, meta from cifar-100-python.tar.gz)",
    "nmnist": "NMNIST/Train/<digit>/*.bin and NMNIST/Test/<digit>/*.bin (the published N-MNIST event files)",
}


def _not_found(name: str, root: Path) -> DatasetNotFoundError:
    return DatasetNotFoundError(f"{name} not found or incomplete: put {_EXPECTED[name]} in {Path(root).resolve()}/ "
                                f"(or point --data-root / $LAVA_TERNARY_DATA at the folder that holds it)")


def _vision(name: str, split: str, root: Path, verify_checksums: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """An MNIST-like or CIFAR image dataset as ``[N, C, H, W]`` integer levels 0..15."""
    base = "test" if split == "test" else "train"
    if name in ("cifar10", "cifar100"):
        try:
            images, labels = read_cifar(name, base == "train", root, verify_checksums)
        except CifarFileError as exc:
            raise DatasetNotFoundError(f"{exc}; {_not_found(name, root)}") from exc
        return _select(images.to(torch.int64) >> 4, labels, split, base)
    cls = _vision_class(name)
    try:
        ds = cls(str(root), train=base == "train", download=False)
    except RuntimeError as exc:
        raise _not_found(name, root) from exc
    images = torch.as_tensor(np.asarray(ds.data)).unsqueeze(1).to(torch.int64) >> 4
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return _select(images, labels, split, base)


def read_nmnist_events(path: os.PathLike) -> np.ndarray:
    """Read one N-MNIST ``.bin`` file: 40-bit events ``x(8) y(8) p(1) t(23)``, time in microseconds.

    Returns
    -------
    np.ndarray
        Structured array with fields ``x``, ``y``, ``p`` (1 = ON, 0 = OFF) and ``t`` (int64).
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise ValueError(f"file {str(path)!r}: N-MNIST size {raw.size} is not a multiple of 5 bytes (40-bit events)")
    ev = raw.reshape(-1, 5).astype(np.int64)
    out = np.empty(len(ev), dtype=[("x", np.int64), ("y", np.int64), ("p", np.int64), ("t", np.int64)])
    out["x"], out["y"] = ev[:, 0], ev[:, 1]
    out["p"] = ev[:, 2] >> 7
    out["t"] = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    return out


def bin_events(events: np.ndarray, timesteps: int, signed: bool, size: int = NMNIST_SIZE) -> torch.Tensor:
    """Bin events into ``T`` equal time bins over the recording.

    Returns ``[2, size, size, T]`` of {0, 1} (channel 0 OFF, 1 ON) or, when ``signed``,
    ``[1, size, size, T]`` of ``sign(#ON - #OFF)`` in {-1, 0, +1}.
    """
    counts = np.zeros((2, size, size, timesteps), dtype=np.int64)
    if len(events):
        t = events["t"] - events["t"].min()
        bins = np.minimum(t * timesteps // (t.max() + 1), timesteps - 1)
        ok = (events["x"] < size) & (events["y"] < size)
        np.add.at(counts, (events["p"][ok], events["y"][ok], events["x"][ok], bins[ok]), 1)
    if signed:
        return torch.from_numpy(np.sign(counts[1] - counts[0])[None]).float()
    return torch.from_numpy((counts > 0).astype(np.float32))


def _nmnist_files(split: str, root: Path) -> Tuple[List[Path], torch.Tensor]:
    folder = Path(root) / "NMNIST" / ("Test" if split == "test" else "Train")
    files, labels = [], []
    for digit in range(10):
        for f in sorted((folder / str(digit)).glob("*.bin")):
            files.append(f)
            labels.append(digit)
    if not files:
        raise _not_found("nmnist", root)
    return files, torch.tensor(labels, dtype=torch.int64)


class SpikeDataset(torch.utils.data.Dataset):
    """Encoded samples ``(x [C, H, W, T] float, label)``; deterministic for a given ``(seed, epoch)``.

    Parameters
    ----------
    info : DatasetInfo
        Shape and level range.
    labels : torch.Tensor
        ``[N]`` int64 labels.
    timesteps : int
        Number of time steps ``T``.
    encoding : str
        ``'direct'``, ``'rate'`` or ``'events'`` (N-MNIST).
    signed : bool
        Signed rate spikes / signed event bins (ternary networks).
    images : torch.Tensor, optional
        ``[N, C, H, W]`` integer levels (static datasets).
    files : list of Path, optional
        Event files (N-MNIST).
    seed : int
        Seed of the Bernoulli draws of the rate encoding.
    """

    def __init__(self, info: DatasetInfo, labels: torch.Tensor, timesteps: int, encoding: str, signed: bool,
                 images: Optional[torch.Tensor] = None, files: Optional[List[Path]] = None, seed: int = 0):
        if timesteps < 1:
            raise ValueError(f"timesteps={timesteps} must be >= 1")
        self.info, self.labels, self.timesteps = info, labels, timesteps
        self.encoding, self.signed, self.images, self.files, self.seed = encoding, signed, images, files, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the Bernoulli draws of this epoch (rate encoding), so that a resumed run sees the same data."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def _encode(self, index: int) -> torch.Tensor:
        if self.encoding == "events":
            return bin_events(read_nmnist_events(self.files[index]), self.timesteps, self.signed)
        level = self.images[index].float()
        if self.encoding == "direct":
            return level.unsqueeze(-1).expand(*level.shape, self.timesteps).clone()
        r = level / self.info.pixel_levels
        if self.signed:
            r = 2 * r - 1
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 10_000_019 + index)
        draw = torch.rand(*r.shape, self.timesteps, generator=gen)
        return torch.sign(r).unsqueeze(-1) * (draw < r.abs().unsqueeze(-1)).float()

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int]:
        return self._encode(index), int(self.labels[index])

    def batch(self, indices: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stack the samples at ``indices`` into ``(x [B, C, H, W, T], labels [B])``."""
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        if self.encoding == "direct":
            level = self.images[idx].float()
            return level.unsqueeze(-1).expand(*level.shape, self.timesteps).contiguous(), self.labels[idx]
        return torch.stack([self._encode(int(i)) for i in idx]), self.labels[idx]


def dataset_info(name: str, encoding: str = "direct", signed: bool = False) -> DatasetInfo:
    """Shape, classes and input range of ``name`` under ``encoding`` (see the module docstring)."""
    _check_choice("dataset", name, DATASETS)
    if name == "nmnist":
        return DatasetInfo(name, (1 if signed else 2, NMNIST_SIZE, NMNIST_SIZE), 10, 1, 0)
    shape, classes, levels = {"digits": ((1, 8, 8), 10, 16), "mnist": ((1, 28, 28), 10, 15),
                              "fashion-mnist": ((1, 28, 28), 10, 15), "cifar10": ((3, 32, 32), 10, 15),
                              "cifar100": ((3, 32, 32), 100, 15)}[name]
    return DatasetInfo(name, shape, classes, levels if encoding == "direct" else 1, levels)


def load_split(name: str, split: str, timesteps: int, encoding: str = "direct", signed: bool = False,
               root: Optional[os.PathLike] = None, seed: int = 0, verify_checksums: bool = True) -> SpikeDataset:
    """Load one split of a dataset, encoded for a ``T``-step network.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    split : str
        ``'train'``, ``'val'`` or ``'test'``.
    timesteps : int
        Number of time steps ``T``.
    encoding : str
        ``'direct'`` or ``'rate'`` (ignored for N-MNIST, which is event data).
    signed : bool
        Signed spikes for ternary networks (rate encoding and N-MNIST bins).
    root : path, optional
        Folder holding the local datasets (default :func:`default_root`); unused for digits.
    seed : int
        Seed of the rate encoding's draws.
    verify_checksums : bool
        Check CIFAR files against torchvision's published md5 sums.
    """
    _check_choice("dataset", name, DATASETS)
    _check_choice("split", split, SPLITS)
    _check_choice("encoding", encoding, ENCODINGS)
    root = Path(root) if root is not None else default_root()
    info = dataset_info(name, encoding, signed)
    if name == "nmnist":
        files, labels = _nmnist_files(split, root)
        if split != "test":
            keep, held = _stratified_split(labels.numpy(), VAL_FRACTION)
            pick = keep if split == "train" else held
            files, labels = [files[i] for i in pick], labels[torch.from_numpy(pick)]
        return SpikeDataset(info, labels, timesteps, "events", signed, files=files, seed=seed)
    if name == "digits":
        images, labels = _digits(split)
    else:
        images, labels = _vision(name, split, root, verify_checksums)
    return SpikeDataset(info, labels, timesteps, encoding, signed, images=images, seed=seed)


def epoch_batches(num_samples: int, batch_size: int, epoch: int, seed: int, shuffle: bool = True,
                  rank: int = 0, world_size: int = 1) -> Iterator[List[int]]:
    """Index batches of one epoch: a permutation fixed by ``(seed, epoch)``, each global batch split over ranks.

    Rank ``r`` of ``world_size`` gets rows ``r::world_size`` of every global batch of ``batch_size *
    world_size`` samples, so the union over ranks is exactly the single-process batch of that size
    (a final chunk smaller than ``world_size`` is dropped so that no rank idles in a collective).
    """
    if shuffle:
        order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    else:
        order = list(range(num_samples))
    step = batch_size * world_size
    for start in range(0, num_samples, step):
        chunk = order[start:start + step]
        if len(chunk) < world_size:
            return
        yield chunk[rank::world_size]
