"""Per-stage thresholds and initial potentials from collected activations, for each conversion method.

Methods: ``'max'`` and ``'p99.9'`` (the classic baselines, ``v0 = 0`` unless ``init='half'``), ``'paper'``
(Algorithms 1/2; Algorithm 2 thins each layer to :data:`PAPER_SAMPLES` values as the paper does),
``'exact'`` (layer-wise exact minimum), ``'exact-channel'`` (per output channel where the blocks can
express it: conv/dense stages not feeding a pooling stage; elsewhere the layer-wise exact value;
channels that never fired get the layer value), ``'signed'`` (ternary neurons: the layer-wise exact
minimum over ``|pre-activation|``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from .activations import LayerActivations, Stage
from .build import StagePlan
from .threshold import optimal_threshold

CONVERSION_METHODS = ("max", "p99.9", "paper", "exact", "exact-channel", "signed")
PAPER_SAMPLES = 5_000


def spike_mode_of(method: str) -> str:
    """Neuron spikes a method converts to: ternary for ``'signed'``, binary otherwise."""
    return "ternary" if method == "signed" else "binary"


def plan_thresholds(stages: Sequence[Stage], acts: Sequence[LayerActivations], T: int, method: str,
                    error: str = "l1", init: Optional[str] = None) -> List[StagePlan]:
    """One :class:`StagePlan` per neuron stage.

    Parameters
    ----------
    stages : sequence of Stage
        All stages of the ANN (from ``parse_ann``).
    acts : sequence of LayerActivations
        From ``collect_activations``, one per neuron stage.
    T : int
        Latency the thresholds are for.
    method : str
        One of :data:`CONVERSION_METHODS`.
    error : {'l1', 'l2'}
        Objective of the searches.
    init : {'half', 'zero'}, optional
        Initial potential of the baselines (default ``'zero'``, as published); others use theirs.
    """
    if method not in CONVERSION_METHODS:
        raise ValueError(f"method must be one of {CONVERSION_METHODS}, got {method!r}")
    neuron_stages = [s for s in stages if s.has_neuron]
    if len(neuron_stages) != len(acts):
        raise ValueError(f"acts: {len(acts)} activation sets for {len(neuron_stages)} neuron stages")
    following = {id(a): b for a, b in zip(stages, stages[1:])}
    plans = []
    for stage, act in zip(neuron_stages, acts):
        post = act.post.reshape(-1)
        if method in ("max", "p99.9"):
            base = init or "zero"
            if method == "max":
                theta = float(act.max.max())
                plans.append(StagePlan(np.array(theta), np.array(theta / 2 if base == "half" else 0.0)))
                continue
            res = optimal_threshold(post, T, error=error, method=method, init=base)
        elif method == "paper":
            res = optimal_threshold(post, T, error=error, method="paper", paper_max_samples=PAPER_SAMPLES)
        elif method == "signed":
            res = optimal_threshold(act.pre.reshape(-1), T, error=error, signed=True)
        else:
            res = optimal_threshold(post, T, error=error)
            nxt = following.get(id(stage))
            if method == "exact-channel" and stage.kind in ("conv", "dense") and (nxt is None or nxt.kind != "pool"):
                res = _per_channel(act.post, T, error, res.theta)
        plans.append(StagePlan(np.asarray(res.theta), np.asarray(res.v0)))
    return plans


def _per_channel(post: np.ndarray, T: int, error: str, layer_theta: float):
    live = np.any(post > 0, axis=0)
    theta = np.full(post.shape[1], layer_theta)
    if live.any():
        theta[live] = optimal_threshold(post[:, live], T, error=error, axis=1).theta
    return StagePlan(theta, theta / 2)
