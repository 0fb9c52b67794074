"""Dataset loaders on fixtures written in the real on-disk formats, and the spike encodings."""
import struct

import numpy as np
import pytest
import torch

from fixtures import CIFAR_LAYOUT, write_cifar
from training import data


def _write_idx(path, array):
    """An idx file as published by LeCun (big-endian dims, magic 0x08 = ubyte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _mnist_folder(root, folder, rng):
    images = {s: rng.integers(0, 256, size=(n, 28, 28)) for s, n in (("train", 100), ("t10k", 12))}
    labels = {s: np.arange(len(images[s])) % 10 for s in images}
    raw = root / folder / "raw"
    for s in images:
        _write_idx(raw / f"{s}-images-idx3-ubyte", images[s])
        _write_idx(raw / f"{s}-labels-idx1-ubyte", labels[s])
    return images, labels


def _nmnist_bytes(x, y, p, t):
    """Encode events in the published 40-bit N-MNIST layout."""
    t = np.asarray(t)
    ev = np.stack([x, y, (np.asarray(p) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return ev.astype(np.uint8).tobytes()


def test_digits_integer_levels_and_fixed_stratified_split():
    train, val, test = (data.load_split("digits", s, timesteps=3) for s in data.SPLITS)
    assert len(train) + len(val) + len(test) == 1797
    assert len(test) == 360 and len(val) == 144
    x, y = train.batch(range(len(train)))
    assert x.shape == (len(train), 1, 8, 8, 3)
    assert torch.equal(x, x.round()) and x.min() == 0 and x.max() == 16
    assert torch.equal(x[..., 0], x[..., 2])
    for ds in (train, val, test):
        counts = torch.bincount(ds.labels, minlength=10).float()
        assert counts.min() / counts.max() > 0.85
    again = data.load_split("digits", "test", timesteps=1)
    assert torch.equal(again.images, test.images)
    rows = {tuple(r.flatten().tolist()) + (int(l),) for r, l in zip(test.images, test.labels)}
    assert sum(tuple(r.flatten().tolist()) + (int(l),) in rows for r, l in zip(train.images, train.labels)) < 5


@pytest.mark.parametrize("signed", [False, True])
def test_rate_encoding_spikes_follow_levels_and_are_reproducible(signed):
    ds = data.load_split("digits", "train", timesteps=64, encoding="rate", signed=signed, seed=3)
    x, _ = ds.batch(range(50))
    allowed = {-1.0, 0.0, 1.0} if signed else {0.0, 1.0}
    assert set(x.unique().tolist()) <= allowed
    level = ds.images[:50].float() / 16
    target = 2 * level - 1 if signed else level
    assert (x.mean(-1) - target).abs().mean() < 0.06
    if signed:
        assert (x[..., :] < 0).any() and (x > 0).any()
    assert torch.equal(ds.batch(range(50))[0], x)
    ds.set_epoch(1)
    assert not torch.equal(ds.batch(range(50))[0], x)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_idx_files_load_as_4bit_levels(tmp_path, name, folder):
    images, labels = _mnist_folder(tmp_path, folder, np.random.default_rng(0))
    test = data.load_split(name, "test", timesteps=2, root=tmp_path)
    x, y = test.batch(range(len(test)))
    assert x.shape == (12, 1, 28, 28, 2)
    np.testing.assert_array_equal(x[:, 0, :, :, 1].numpy(), images["t10k"] >> 4)
    np.testing.assert_array_equal(y.numpy(), labels["t10k"])
    train, val = (data.load_split(name, s, timesteps=1, root=tmp_path) for s in ("train", "val"))
    assert len(train) + len(val) == 100 and len(val) == 10
    assert test.info.max_level == 15 and int(x.max()) <= 15


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_python_batches_load(tmp_path, name):
    pixels = write_cifar(tmp_path, name, np.random.default_rng(1), 20 if name == "cifar10" else 1000, 20)
    lay = CIFAR_LAYOUT[name]
    n_classes, test_file, train_files = lay.classes, lay.test_file, lay.train_files

    with pytest.raises(data.DatasetNotFoundError):
        data.load_split(name, "test", timesteps=1, root=tmp_path)
    test = data.load_split(name, "test", timesteps=1, root=tmp_path, verify_checksums=False)
    x, y = test.batch(range(20))
    assert x.shape == (20, 3, 32, 32, 1) and test.info.num_classes == n_classes
    np.testing.assert_array_equal(x[..., 0].numpy(), pixels[test_file].reshape(20, 3, 32, 32) >> 4)
    np.testing.assert_array_equal(y.numpy(), np.arange(20) % n_classes)
    train = data.load_split(name, "train", timesteps=1, root=tmp_path, verify_checksums=False)
    assert len(train) == int(0.9 * sum(len(pixels[f]) for f in train_files))


def test_nmnist_bin_files_read_and_bin(tmp_path):
    x = np.array([0, 5, 33, 5, 7, 7])
    y = np.array([1, 2, 33, 2, 9, 9])
    p = np.array([1, 0, 1, 1, 1, 0])
    t = np.array([0, 10, 70_000, 150_000, 299_999, 299_999])
    f = tmp_path / "one.bin"
    f.write_bytes(_nmnist_bytes(x, y, p, t))
    ev = data.read_nmnist_events(f)
    for field, ref in zip("xypt", (x, y, p, t)):
        np.testing.assert_array_equal(ev[field], ref)

    signed = data.bin_events(ev, timesteps=2, signed=True)
    assert signed.shape == (1, 34, 34, 2)
    assert signed[0, 1, 0, 0] == 1 and signed[0, 2, 5, 0] == -1 and signed[0, 2, 5, 1] == 1
    assert signed[0, 9, 7, 1] == 0 and signed[0, 33, 33, 0] == 1
    binary = data.bin_events(ev, timesteps=2, signed=False)
    assert binary.shape == (2, 34, 34, 2)
    assert binary[0, 9, 7, 1] == 1 and binary[1, 9, 7, 1] == 1 and binary.sum() == 6

    for split, folder in (("train", "Train"), ("test", "Test")):
        for digit in range(10):
            for k in range(2 if split == "test" else 10):
                d = tmp_path / "root" / "NMNIST" / folder / str(digit)
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{k:05d}.bin").write_bytes(_nmnist_bytes(x, y, p, t + digit))
    test = data.load_split("nmnist", "test", timesteps=4, signed=True, root=tmp_path / "root")
    xb, yb = test.batch(range(len(test)))
    assert xb.shape == (20, 1, 34, 34, 4) and sorted(yb.tolist()) == sorted(list(range(10)) * 2)
    train = data.load_split("nmnist", "train", timesteps=4, root=tmp_path / "root")
    assert len(train) == 90 and train.info.shape == (2, 34, 34)

    (tmp_path / "bad.bin").write_bytes(b"\x00" * 7)
    with pytest.raises(ValueError, match="bad.bin"):
        data.read_nmnist_events(tmp_path / "bad.bin")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100", "nmnist"])
def test_missing_folder_says_what_to_put_where(tmp_path, name):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_split(name, "train", timesteps=1, root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path.resolve()) in msg and "put " in msg and "\n" not in msg


def test_bad_choices_name_the_parameter():
    with pytest.raises(ValueError, match="dataset="):
        data.load_split("imagenet", "train", timesteps=1)
    with pytest.raises(ValueError, match="encoding="):
        data.load_split("digits", "train", timesteps=1, encoding="latency")
    with pytest.raises(ValueError, match="timesteps="):
        data.load_split("digits", "train", timesteps=0)


def test_epoch_batches_split_global_batches_over_ranks():
    single = list(data.epoch_batches(23, 8, epoch=2, seed=5))
    assert sorted(i for b in single for i in b) == list(range(23))
    ranks = [list(data.epoch_batches(23, 4, epoch=2, seed=5, rank=r, world_size=2)) for r in (0, 1)]
    for k, glob in enumerate(single):
        assert sorted(ranks[0][k] + ranks[1][k]) == sorted(glob)
    assert list(data.epoch_batches(23, 8, epoch=3, seed=5)) != single
