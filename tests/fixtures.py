"""Dataset fixtures that tests write in the real on-disk formats (shared by test_data and test_study)."""
import pickle
from pathlib import Path
from typing import Dict, List, NamedTuple

import numpy as np


class CifarLayout(NamedTuple):
    """Files and pickle keys of one CIFAR python release."""

    folder: str
    train_files: List[str]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    classes: int


CIFAR_LAYOUT = {
    "cifar10": CifarLayout("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                           "batches.meta", "labels", "label_names", 10),
    "cifar100": CifarLayout("cifar-100-python", ["train"], "test", "meta", "fine_labels", "fine_label_names", 100),
}


def _pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def write_cifar(root: Path, name: str, rng: np.random.Generator, train_per_file: int,
                test_samples: int) -> Dict[str, np.ndarray]:
    """Write CIFAR-10/100 in the published python layout (pickled dicts of ``data`` [N, 3072] uint8 and labels).

    Every training file holds ``train_per_file`` random images, the test file ``test_samples``; the
    labels are ``i % classes``. Returns the pixels written, per file name.
    """
    lay = CIFAR_LAYOUT[name]
    pixels = {}
    for f in lay.train_files + [lay.test_file]:
        n = test_samples if f == lay.test_file else train_per_file
        pixels[f] = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        _pickle(Path(root) / lay.folder / f, {"data": pixels[f], lay.label_key: [i % lay.classes for i in range(n)]})
    _pickle(Path(root) / lay.folder / lay.meta_file, {lay.names_key: [str(i) for i in range(lay.classes)]})
    return pixels
