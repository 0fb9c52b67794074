"""Parse a sequential ReLU ANN into conversion stages and collect each stage's activations with hooks.

Supported leaf modules, in forward order: ``Conv2d``/``Linear`` (optionally followed by ``BatchNorm``)
then ``ReLU`` (a neuron stage; the last ``Linear`` without ``ReLU`` is the readout), ``AvgPool2d`` and
``MaxPool2d`` (converted to average pooling, a neuron stage of its own), ``Flatten``, and ``Dropout``/
``Identity`` (ignored). ``nn.Sequential`` and VGG-style models whose forward runs their leaves in
registration order are accepted; :func:`collect_activations` checks that on the first batch.

Memory: each stage keeps a uniform random sample of at most ``max_values`` activations, drawn as whole
"sites" (one sample and pixel, all channels) by priority sampling, so the sample is an ``(n, C)`` array
(per-channel thresholds work on its columns) and memory stays ``O(max_values)`` per stage however large
the calibration set; the exact per-channel maximum is tracked besides.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, List, Optional

import numpy as np
import torch

log = logging.getLogger(__name__)

WEIGHTED = (torch.nn.Conv2d, torch.nn.Linear)
NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
POOLS = (torch.nn.AvgPool2d, torch.nn.MaxPool2d)
IGNORED = (torch.nn.Dropout, torch.nn.Identity)


@dataclass
class Stage:
    """One SNN block to be: ``kind`` in ``'conv'``, ``'dense'``, ``'pool'``, ``'flatten'``, ``'readout'``."""

    kind: str
    module: Optional[torch.nn.Module] = None
    norm: Optional[torch.nn.Module] = None
    act: Optional[torch.nn.Module] = None
    name: str = ""

    @property
    def has_neuron(self) -> bool:
        """Whether the stage becomes a spiking block (needs a threshold)."""
        return self.kind in ("conv", "dense", "pool")


def _leaves(model: torch.nn.Module) -> List[tuple]:
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def parse_ann(model: torch.nn.Module) -> List[Stage]:
    """Group the model's leaf modules into conversion stages; ``ValueError`` naming any unsupported module."""
    stages: List[Stage] = []
    for name, m in _leaves(model):
        last = stages[-1] if stages else None
        if isinstance(m, IGNORED):
            continue
        if isinstance(m, WEIGHTED):
            if last is not None and last.kind == "readout":
                raise ValueError(f"module {last.name!r}: a Linear/Conv2d without ReLU is only allowed as the "
                                 f"last weighted layer (the readout)")
            stages.append(Stage("conv" if isinstance(m, torch.nn.Conv2d) else "readout", m, name=name))
        elif isinstance(m, NORMS):
            if last is None or last.module is None or not isinstance(last.module, WEIGHTED) or last.norm is not None \
                    or last.act is not None:
                raise ValueError(f"module {name!r}: BatchNorm must directly follow a Conv2d or Linear")
            last.norm = m
        elif isinstance(m, torch.nn.ReLU):
            if last is None or last.act is not None or last.kind == "flatten":
                raise ValueError(f"module {name!r}: ReLU must follow a Conv2d/Linear(/BatchNorm) or a pooling layer")
            if last.kind == "readout":
                last.kind = "dense"
            last.act = m
        elif isinstance(m, POOLS):
            if last is None or last.kind not in ("conv", "dense", "pool") or last.act is None and last.kind != "pool":
                raise ValueError(f"module {name!r}: pooling must follow a ReLU layer")
            if isinstance(m, torch.nn.MaxPool2d):
                log.warning("module %r: MaxPool2d is converted to average pooling", name)
            if m.padding not in (0, (0, 0)):
                raise ValueError(f"module {name!r}: padded pooling is not supported")
            stages.append(Stage("pool", m, name=name))
        elif isinstance(m, torch.nn.Flatten):
            stages.append(Stage("flatten", m, name=name))
        else:
            raise ValueError(f"module {name!r}: {type(m).__name__} is not supported for conversion")
    for stage in stages:
        if stage.kind == "conv" and stage.act is None:
            raise ValueError(f"module {stage.name!r}: Conv2d must be followed by ReLU")
    if not stages or stages[-1].kind != "readout":
        raise ValueError("the model must end with a Linear readout layer (no ReLU after it)")
    return stages


@dataclass
class Reservoir:
    """Uniform sample without replacement of at most ``capacity`` rows from a stream (priority sampling)."""

    capacity: int
    rng: np.random.Generator
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    rows: Optional[np.ndarray] = None
    seen: int = 0

    def add(self, rows: np.ndarray) -> None:
        """Offer a batch of rows ``(n, C)``."""
        self.seen += rows.shape[0]
        keys = self.rng.random(rows.shape[0])
        if self.rows is None:
            self.rows = rows[:0]
        keys = np.concatenate([self.keys, keys])
        all_rows = np.concatenate([self.rows, rows])
        if keys.size > self.capacity:
            keep = np.argpartition(keys, self.capacity - 1)[:self.capacity]
            keys, all_rows = keys[keep], all_rows[keep]
        self.keys, self.rows = keys, all_rows


@dataclass
class LayerActivations:
    """Activation sample of one neuron stage: ``post`` (what the neuron represents) and ``pre`` (signed input).

    ``post`` and ``pre`` are ``(n, C)`` float32 arrays of the same sites; ``max`` is the exact
    per-channel maximum of ``post`` over everything seen; ``seen`` counts sites offered.
    """

    name: str
    post: np.ndarray
    pre: np.ndarray
    max: np.ndarray
    seen: int


def _sites(x: torch.Tensor) -> np.ndarray:
    """``(B, C, *spatial)`` tensor to ``(B·prod(spatial), C)`` float32 rows."""
    x = x.detach().to(torch.float32)
    if x.dim() > 2:
        x = x.movedim(1, -1).reshape(-1, x.shape[1])
    return x.cpu().numpy()


def collect_activations(model: torch.nn.Module, batches: Iterable[torch.Tensor], max_values: int = 1 << 21,
                        seed: int = 0) -> List[LayerActivations]:
    """Run ``model`` over calibration ``batches`` and sample every neuron stage's activations via forward hooks.

    Parameters
    ----------
    model : torch.nn.Module
        A trained ReLU ANN accepted by :func:`parse_ann`.
    batches : iterable of torch.Tensor
        Calibration inputs in the ANN's input units.
    max_values : int
        Upper bound on the values kept per stage (whole sites of ``C`` channels).
    seed : int
        Seed of the subsampling.

    Returns
    -------
    list of LayerActivations
        One per neuron stage (``Stage.has_neuron``), in forward order.
    """
    stages = [s for s in parse_ann(model) if s.has_neuron]
    leaves = [m for _, m in _leaves(model)]
    rng = np.random.default_rng(seed)
    store = [dict(res=None, max=None, pre=None) for _ in stages]
    handles = []

    def on_output(i: int):
        def hook(_module, inputs, output):
            post = _sites(output)
            pre = _sites(inputs[0]) if stages[i].kind != "pool" else post
            entry = store[i]
            if entry["res"] is None:
                entry["res"] = Reservoir(max(1, max_values // post.shape[1]), rng)
                entry["max"] = np.zeros(post.shape[1], np.float32)
            entry["max"] = np.maximum(entry["max"], post.max(axis=0))
            entry["res"].add(np.concatenate([post, pre], axis=1))
        return hook

    def on_input(i: int):
        def hook(_module, inputs):
            store[i]["pre"] = inputs[0].detach().clone()
        return hook

    was_training = model.training
    model.eval()
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        raise ValueError("batches is empty: no activations were collected")
    try:
        with torch.no_grad():
            _check_sequential(model, leaves, first)
            for i, stage in enumerate(stages):
                target = stage.act if stage.act is not None else stage.module
                if stage.kind != "pool":
                    handles.append(target.register_forward_pre_hook(on_input(i)))
                handles.append(target.register_forward_hook(_with_pre(on_output(i), store[i], stage.kind)))
            model(first)
            for x in batches:
                model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    out = []
    for stage, entry in zip(stages, store):
        rows = entry["res"].rows
        c = rows.shape[1] // 2
        out.append(LayerActivations(stage.name, rows[:, :c], rows[:, c:], entry["max"], entry["res"].seen))
    return out


def _with_pre(hook, entry: dict, kind: str):
    """Feed the pre-activation captured by the pre-hook (in-place ReLUs overwrite their input)."""
    def wrapped(module, inputs, output):
        pre = (entry["pre"],) if kind != "pool" else inputs
        return hook(module, pre, output)
    return wrapped


def _check_sequential(model: torch.nn.Module, leaves: List[torch.nn.Module], x: torch.Tensor) -> None:
    """``ValueError`` unless running the leaves in order reproduces the model's output."""
    y = model(x)
    z = x
    for m in leaves:
        z = m(z)
    if z.shape != y.shape or not torch.allclose(z, y, rtol=1e-4, atol=1e-5):
        raise ValueError("model: running its modules in registration order does not reproduce its forward; "
                         "only sequential (nn.Sequential / VGG-style) models can be converted")
