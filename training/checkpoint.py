"""Training checkpoints: written atomically, read back with checks that name what does not fit.

A checkpoint is a ``torch.save`` dict ``{'format', 'version', 'config', 'model', 'meta', ...}`` where
``config`` rebuilds the network (:func:`training.models.build_from_config`) and ``meta`` holds the
training run's settings and metrics.

Reading an untrusted file is bounded before anything is inflated: the file must be a regular file
of at most :data:`MAX_BYTES`, a zip archive (``torch.save``'s format) whose central directory lists
at most :data:`MAX_MEMBERS` members, :data:`MAX_UNCOMPRESSED` bytes in all, no member inflating more
than :data:`MAX_RATIO` times its stored size, and a ``data.pkl``; only then is it loaded with
``torch.load(weights_only=True)`` (tensors and plain data, no pickled code). Raise the limits by
setting these module attributes. Anything else is one :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import os
import pickle
import stat
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from lava_ternary.errors import CheckpointError
from lava_ternary.io_utils import atomic_path

FORMAT = "lava-ternary-checkpoint"
VERSION = 1

MAX_BYTES = 4 << 30
"""Largest checkpoint file read (4 GiB)."""
MAX_MEMBERS = 10_000
"""Most zip members (a checkpoint has one per tensor storage plus five)."""
MAX_UNCOMPRESSED = 4 << 30
"""Most bytes all members may inflate to (4 GiB)."""
MAX_RATIO = 100
"""Largest inflation ratio of a member over 1 MiB (``torch.save`` stores members uncompressed: ratio 1)."""
_RATIO_FLOOR = 1 << 20


def save_checkpoint(path: os.PathLike, model: torch.nn.Module, meta: Optional[Dict[str, Any]] = None,
                    **state: Any) -> Path:
    """Write ``model`` (its ``config`` and ``state_dict``), ``meta`` and extra ``state`` to ``path`` atomically.

    Parameters
    ----------
    path : path
        Target file; a temporary file in the same folder is renamed onto it, so a reader (or a
        run killed mid-write) never sees a half-written checkpoint.
    model : torch.nn.Module
        A :class:`training.models.SpikingNet` (anything with ``config`` and ``state_dict``).
    meta : dict, optional
        Plain-data description of the run (settings, epoch, metrics).
    **state
        Further plain-data / tensor entries (optimizer and scheduler state, RNG state, stats).
    """
    payload = {"format": FORMAT, "version": VERSION, "config": dict(model.config),
               "model": model.state_dict(), "meta": dict(meta or {})}
    payload.update(state)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _reason(exc: BaseException) -> str:
    """One line on why loading failed, without torch's advice to retry with ``weights_only=False``."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if isinstance(exc, pickle.UnpicklingError):
        lines = [ln for ln in lines if "weights_only" not in ln and not ln.startswith(("Weights only", "Check the"))]
        return "holds objects other than tensors and plain data, refused" + (f" ({lines[0][:200]})" if lines else "")
    return f"{type(exc).__name__}" + (f": {lines[0][:200]}" if lines else "")


def _check_archive(path: Path) -> None:
    """The limits of the module docstring, checked on the file and the zip central directory only."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r}: no such file") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {name!r}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"checkpoint {name!r}: not a regular file")
    if st.st_size == 0:
        raise CheckpointError(f"checkpoint {name!r}: empty file")
    if st.st_size > MAX_BYTES:
        raise CheckpointError(f"checkpoint {name!r}: {st.st_size} bytes is over the {MAX_BYTES}-byte limit "
                              f"(training.checkpoint.MAX_BYTES)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise CheckpointError(f"checkpoint {name!r}: not a torch checkpoint (not a complete zip archive: "
                              f"another kind of file, or truncated)") from None
    if len(members) > MAX_MEMBERS:
        raise CheckpointError(f"checkpoint {name!r}: {len(members)} zip members, over the limit of {MAX_MEMBERS} "
                              f"(training.checkpoint.MAX_MEMBERS)")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED:
        raise CheckpointError(f"checkpoint {name!r}: members inflate to {total} bytes, over the limit of "
                              f"{MAX_UNCOMPRESSED} (training.checkpoint.MAX_UNCOMPRESSED)")
    for m in members:
        if m.file_size > _RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise CheckpointError(f"checkpoint {name!r}: member {m.filename!r} inflates {m.compress_size} to "
                                  f"{m.file_size} bytes, over the ratio limit of {MAX_RATIO} "
                                  f"(training.checkpoint.MAX_RATIO)")
    if not any(m.filename.endswith("/data.pkl") or m.filename == "data.pkl" for m in members):
        raise CheckpointError(f"checkpoint {name!r}: not a torch checkpoint (a zip archive without data.pkl)")


def load_torch_file(path: os.PathLike) -> Any:
    """``torch.load(weights_only=True)`` of a file checked against the limits first (a checkpoint, or a
    user's bare ``state_dict``); raise :class:`CheckpointError` naming the file otherwise."""
    path = Path(path)
    _check_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: not a readable torch checkpoint ({_reason(exc)})") from None


def read_checkpoint(path: os.PathLike) -> Dict[str, Any]:
    """Read and validate a checkpoint file; raise :class:`CheckpointError` naming the file otherwise.

    The file is checked against the limits of the module docstring before it is inflated.
    """
    payload = load_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r}: unknown format (expected a {FORMAT!r} file written "
                              f"by training.train; a bare state_dict or another tool's file cannot be loaded)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r}: format version {payload.get('version')!r}, "
                              f"this package reads version {VERSION}")
    for key in ("config", "model", "meta"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"checkpoint {str(path)!r}: key {key!r} is missing or not a dict")
    return payload


def _describe(config: Dict[str, Any]) -> str:
    keys = ("name", "neuron", "in_shape", "num_classes", "width")
    return ", ".join(f"{k}={config.get(k)!r}" for k in keys)


def load_state(path: os.PathLike, model: torch.nn.Module, payload: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Load a checkpoint's weights into ``model`` after checking that it was saved from the same model.

    Returns the checkpoint payload. A checkpoint of another model (another architecture, width,
    neuron mode, input or class count) raises :class:`CheckpointError` naming both models and the
    first key that differs, never a bare shape error.
    """
    payload = read_checkpoint(path) if payload is None else payload
    saved, state = payload["config"], payload["model"]
    ours = getattr(model, "config", None)
    if ours is not None and saved != ours:
        raise CheckpointError(f"checkpoint {str(path)!r} holds model ({_describe(saved)}), "
                              f"not this model ({_describe(ours)})")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        key = (missing or unexpected)[0]
        raise CheckpointError(f"checkpoint {str(path)!r}: key {key!r} is "
                              f"{'missing from the file' if missing else 'not part of this model'} "
                              f"({len(missing)} missing, {len(unexpected)} unexpected keys)")
    for key, value in expected.items():
        got = state[key]
        if isinstance(value, torch.Tensor) and (not isinstance(got, torch.Tensor) or got.shape != value.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(f"checkpoint {str(path)!r}: key {key!r} has shape {shape}, "
                                  f"the model expects {tuple(value.shape)}")
    model.load_state_dict(state)
    return payload


def load_model(path: os.PathLike, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild the network stored in a checkpoint and load its weights.

    Parameters
    ----------
    path : path
        A checkpoint written by :func:`save_checkpoint` (``training.train`` writes ``last.pt`` and ``best.pt``).
    device : str
        Torch device of the returned model.

    Returns
    -------
    (model, meta)
        The model in ``eval()`` mode and the checkpoint's ``meta`` dict (run settings, epoch, metrics;
        ``meta['timesteps']`` is the number of input steps ``T``).
    """
    from training.models import build_from_config
    payload = read_checkpoint(path)
    try:
        model = build_from_config(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: key 'config' does not describe a model: {exc}") from exc
    load_state(path, model, payload)
    return model.to(device).eval(), payload["meta"]
