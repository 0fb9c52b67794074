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


# ---------------------------------------------------------------------------------------------- mnist5k
def test_mnist5k_is_the_embedded_file_with_a_fixed_per_class_split():
    splits = {s: data.load_split("mnist5k", s, timesteps=2) for s in data.SPLITS}
    for split, per_class in (("train", 360), ("val", 40), ("test", 100)):
        assert torch.bincount(splits[split].labels, minlength=10).tolist() == [per_class] * 10
    x, _ = splits["test"].batch(range(8))
    assert x.shape == (8, 1, 28, 28, 2) and torch.equal(x, x.round()) and torch.equal(x[..., 0], x[..., 1])
    assert splits["train"].images.min() == 0 and splits["train"].images.max() == 15
    assert data.dataset_info("mnist5k") == splits["test"].info
    assert splits["test"].info.shape == (1, 28, 28) and splits["test"].info.max_level == 15
    # the three splits partition the 5,000 shipped images (pixel >> 4 of the file's rows)
    images, labels = data._mnist5k_arrays()
    table = np.loadtxt(data.mnist5k_file(), delimiter=",", dtype=np.int64, max_rows=3)
    rows = np.argsort(np.random.default_rng(data.SPLIT_SEED).permutation(5000))[:3]  # the file's first rows
    np.testing.assert_array_equal(images[rows].reshape(3, -1).numpy(), table[:, :-1] >> 4)
    assert labels[rows].tolist() == table[:, -1].tolist()
    # the file is sorted by class; the splits are not, so the first N samples (--train-limit) mix the classes
    assert len(torch.unique(splits["train"].labels[:50])) == 10
    key = lambda ds: sorted(hash(r.numpy().tobytes()) for r in ds.images)  # noqa: E731
    assert sorted(key(splits["train"]) + key(splits["val"]) + key(splits["test"])) == \
        sorted(hash(r.numpy().tobytes()) for r in images)
    data._mnist5k_arrays.cache_clear()  # a fresh read gives the same split
    again = data.load_split("mnist5k", "val", timesteps=1)
    assert torch.equal(again.images, splits["val"].images) and torch.equal(again.labels, splits["val"].labels)


# ---------------------------------------------------------------------------------------------- npz:PATH
def _digits_npz(path, with_test=False, **extra):
    """The digits images as a user's npz file ([N, 8, 8] uint8, labels 0..9)."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    arrays = {"x": bunch.images.astype(np.uint8), "y": bunch.target}
    if with_test:
        arrays = {"x": arrays["x"][:1500], "y": arrays["y"][:1500], "x_test": arrays["x"][1500:],
                  "y_test": arrays["y"][1500:]}
    arrays.update(extra)
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_dataset_splits_like_digits_and_takes_its_own_test_arrays(tmp_path):
    name = _digits_npz(tmp_path / "mine.npz")
    assert data.resolve_dataset(name) == name
    for split in data.SPLITS:  # without x_test: the digits split exactly
        mine, digits = data.load_split(name, split, 1), data.load_split("digits", split, 1)
        assert torch.equal(mine.images, digits.images) and torch.equal(mine.labels, digits.labels)
    info = data.dataset_info(name)
    assert (info.shape, info.num_classes, info.max_level, info.pixel_levels) == ((1, 8, 8), 10, 16, 16)
    assert data.dataset_info(name, encoding="rate").max_level == 1
    assert data.result_suffix(name) == "_mine" and data.result_suffix("mnist5k") == "_mnist5k"

    named = _digits_npz(tmp_path / "split.npz", with_test=True)
    test = data.load_split(named, "test", 3)
    assert len(test) == 297 and test.images.shape == (297, 1, 8, 8)
    train, val = data.load_split(named, "train", 1), data.load_split(named, "val", 1)
    assert len(train) + len(val) == 1500 and len(val) == 150

    rgb = tmp_path / "rgb.npz"  # [N, C, H, W] with float arrays of integer values
    np.savez(rgb, x=np.arange(40 * 3 * 4 * 4).reshape(40, 3, 4, 4) % 200 * 1.0, y=np.arange(40) % 4 * 1.0)
    ds = data.load_split(f"npz:{rgb}", "test", 2)
    assert ds.info.shape == (3, 4, 4) and ds.info.num_classes == 4 and ds.info.max_level == 199
    assert torch.bincount(ds.labels).tolist() == [2, 2, 2, 2]


def _bad(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


X, Y = np.zeros((20, 4, 4), np.uint8), np.arange(20) % 2


@pytest.mark.parametrize("arrays, array, words", [
    (dict(x=X), None, "expected 'x' and 'y'"),
    (dict(x=X.reshape(20, 16), y=Y), "'x'", "shape (20, 16)"),
    (dict(x=X, y=Y.reshape(10, 2)), "'y'", "[N] labels"),
    (dict(x=X[:19], y=Y), "'x'", "19 samples but 'y' has 20"),
    (dict(x=np.full((20, 4, 4), np.nan), y=Y), "'x'", "NaN"),
    (dict(x=X + 0.5, y=Y), "'x'", "non-integer"),
    (dict(x=X, y=Y + 0.5), "'y'", "non-integer"),
    (dict(x=X.astype(np.int16) - 1, y=Y), "'x'", "-1..-1"),
    (dict(x=X.astype(np.int16) + 256, y=Y), "'x'", "0..255"),
    (dict(x=X, y=Y - 1), "'y'", "negative labels"),
    (dict(x=X, y=np.where(Y == 1, 2, 0)), "'y'", "classes [1] never occur"),
    (dict(x=X, y=np.r_[Y[:19], 2]), "'y'", "only 1 sample(s)"),
    (dict(x=X, y=Y, x_test=X), None, "only one of 'x_test' and 'y_test'"),
    (dict(x=X, y=Y, x_test=X[:, :2], y_test=Y), "'x_test'", "shape (1, 2, 4)"),
    (dict(x=X, y=Y, x_test=X, y_test=Y + 1), "'y_test'", "only 2 classes"),
    (dict(x=X.astype(str), y=Y), "'x'", "dtype <U"),
    (dict(x=np.array([[1], "a"], dtype=object), y=Y), "'x'", "Python objects (pickled)"),
])
def test_bad_npz_arrays_are_one_line_naming_file_and_array(tmp_path, arrays, array, words):
    path = _bad(tmp_path, **arrays)
    with pytest.raises(ValueError) as err:
        data.load_split(f"npz:{path}", "train", 1)
    msg = str(err.value)
    assert str(path) in msg and words in msg and "\n" not in msg
    if array:
        assert f"array {array}" in msg


def test_npz_files_that_are_not_archives(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="missing.npz"):
        data.resolve_dataset(f"npz:{tmp_path / 'missing.npz'}")
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    np.save(tmp_path / "one.npy", X)
    for path, words in ((tmp_path / "text.npz", "not an .npz archive"), (tmp_path / "one.npy", "single .npy")):
        with pytest.raises(ValueError, match=words) as err:
            data.dataset_info(f"npz:{path}")
        assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="dataset='npz'"):
        data.resolve_dataset("npz")


def test_cli_reports_a_bad_npz_in_one_line(tmp_path, capsys):
    from lava_ternary import cli
    from test_sim import dense, write_net

    path = _bad(tmp_path, x=X, y=Y + 0.5)
    rng = np.random.default_rng(0)
    net = write_net(tmp_path / "net.net", [dense(10, 64, rng, scale=20, neuron=dict(vth=40))])
    assert cli.main(["evaluate", str(net), "--dataset", f"npz:{path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "array 'y'" in err[0] and "non-integer" in err[0]
    try:
        code = cli.main(["train", "--dataset", f"npz:{path}", "--out", str(tmp_path / "run")])
    except SystemExit as stop:  # an argparse error of the train script
        code = stop.code
    assert code == 2 and "array 'y'" in capsys.readouterr().err and not (tmp_path / "run").exists()
