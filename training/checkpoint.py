"""Training checkpoints: written atomically, read back with checks that name what does not fit.

A checkpoint is a ``torch.save`` dict ``{'format', 'version', 'config', 'model', 'meta', ...}`` where
``config`` rebuilds the network (:func:`training.models.build_from_config`) and ``meta`` holds the
training run's settings and metrics. Files are loaded with ``weights_only=True`` (no pickled code).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from lava_ternary.errors import CheckpointError
from lava_ternary.io_utils import atomic_path

FORMAT = "lava-ternary-checkpoint"
VERSION = 1


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


def read_checkpoint(path: os.PathLike) -> Dict[str, Any]:
    """Read and validate a checkpoint file; raise :class:`CheckpointError` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: not a readable torch checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
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
