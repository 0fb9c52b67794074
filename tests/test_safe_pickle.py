"""Data folders are never unpickled unrestricted: crafted CIFAR files give one clear error and run nothing."""
import os
import pickle

import numpy as np
import pytest

from fixtures import CIFAR_LAYOUT, write_cifar
from lava_ternary.safe_pickle import UnsafePickleError, load_restricted
from training import data


class _RunsCommand:
    """Pickles to ``os.system(command)``: what a crafted batch file does."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _CallsNdarray:
    """Pickles to ``numpy.ndarray((10**10,))``: a 10 GB allocation if the constructor were callable."""

    def __reduce__(self):
        return np.ndarray, ((10 ** 10,),)


def _crafted(marker):
    """Pickle byte strings that must all be refused (each would run code, build objects or allocate)."""
    shell = pickle.dumps({"data": _RunsCommand(f"touch {marker}"), "labels": [0]}, protocol=2)
    inst = f"(S'touch {marker}'\nios\nsystem\n.".encode()  # protocol-0 INST opcode
    stack_global = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x04eval\x93\x8c\x03" \
                   b"1+1\x85R."
    return {"os.system": shell, "INST os.system": inst, "builtins.eval": stack_global,
            "object array": pickle.dumps(np.array([1, "a"], dtype=object)),
            "structured dtype": pickle.dumps(np.zeros(2, dtype=[("a", "u1")])),
            "ndarray call": pickle.dumps(_CallsNdarray()),
            "empty": b"", "text": b"hello world\n", "truncated": pickle.dumps({"data": np.zeros(99)})[:60]}


def test_restricted_reader_refuses_everything_but_plain_data(tmp_path):
    marker = tmp_path / "marker"
    for label, raw in _crafted(marker).items():
        path = tmp_path / f"{label.replace(' ', '_')}.pkl"
        path.write_bytes(raw)
        with pytest.raises(UnsafePickleError) as err:
            load_restricted(path)
        msg = str(err.value)
        assert str(path) in msg and "\n" not in msg, label
    assert not marker.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_restricted_reader_reads_numpy_arrays_and_containers(tmp_path, protocol):
    value = {"data": np.arange(12, dtype=np.uint8).reshape(2, 6), "labels": [3, 1], "names": ["a", b"b"],
             "x": 1.5, "i": np.arange(3, dtype="<i8"), "none": None, "t": (True, 2)}
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    got = load_restricted(path)
    assert got.keys() == value.keys() and got["labels"] == [3, 1] and got["names"] == ["a", b"b"]
    np.testing.assert_array_equal(got["data"], value["data"])
    assert got["data"].dtype == np.uint8 and got["i"].dtype == np.int64 and got["t"] == (True, 2)


@pytest.mark.parametrize("victim", ["batch", "meta"])
@pytest.mark.parametrize("verify", [False, True], ids=["no-checksums", "checksums"])
def test_crafted_cifar_file_runs_nothing(tmp_path, victim, verify):
    write_cifar(tmp_path, "cifar10", np.random.default_rng(0), train_per_file=4, test_samples=4)
    lay = CIFAR_LAYOUT["cifar10"]
    target = tmp_path / lay.folder / (lay.test_file if victim == "batch" else lay.meta_file)
    marker = tmp_path / "marker"
    target.write_bytes(pickle.dumps({"data": _RunsCommand(f"touch {marker}"), "labels": [0] * 4,
                                     "label_names": _RunsCommand(f"touch {marker}")}, protocol=2))
    expected = data.DatasetNotFoundError if verify else UnsafePickleError  # checksums: md5 differs, not unpickled
    with pytest.raises(expected) as err:
        data.load_split("cifar10", "test", timesteps=1, root=tmp_path, verify_checksums=verify)
    msg = str(err.value)
    assert str(target.parent if verify else target) in msg and "\n" not in msg
    assert ("md5 differs" if verify else f"refusing to unpickle {os.system.__module__}.system") in msg
    assert not marker.exists()


def test_cifar_layout_errors_name_file_and_key(tmp_path):
    write_cifar(tmp_path, "cifar10", np.random.default_rng(0), train_per_file=4, test_samples=4)
    target = tmp_path / CIFAR_LAYOUT["cifar10"].folder / "test_batch"
    for bad, key in (({"data": np.zeros((4, 3072), np.float32), "labels": [0] * 4}, "data"),
                     ({"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2]}, "labels"),
                     ({"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 10]}, "labels")):
        target.write_bytes(pickle.dumps(bad))
        with pytest.raises(ValueError, match=f"test_batch.*key '{key}'"):
            data.load_split("cifar10", "test", timesteps=1, root=tmp_path, verify_checksums=False)


def test_restricted_reader_reads_a_python2_pickle_like_the_published_cifar_files(tmp_path):
    """The published batches are Python 2 protocol-2 pickles: 8-bit strings (``U``) hold the pixel bytes."""
    raw = (b"\x80\x02}q\x00(U\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00"
           b"\x85U\x01b\x87Rq\x04(K\x01K\x02K\x03\x86cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNN"
           b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U\x06\x00\x01\x02\xfd\xfe\xfftbU\x06labels]q\x05(K\x01K\x02eu.")
    (tmp_path / "py2").write_bytes(raw)
    got = load_restricted(tmp_path / "py2")
    np.testing.assert_array_equal(got["data"], np.array([[0, 1, 2], [253, 254, 255]], dtype=np.uint8))
    assert got["data"].dtype == np.uint8 and got["labels"] == [1, 2]
