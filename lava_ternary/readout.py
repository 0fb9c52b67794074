"""The one class readout: output spikes summed over the last steps, over space and over each class's population.

The training model (``training.models.SpikingNet.readout``, torch tensors with gradients), the Lava
parity checks (:mod:`lava_ternary.parity`), the fast simulator (:mod:`lava_ternary.sim`) and the report
(:mod:`lava_ternary.report`) all call :func:`class_scores` / :func:`predictions`, so a prediction means
the same thing everywhere: the ``N`` output neurons form consecutive groups of ``population`` per class,
a conv-shaped output sums its spatial positions per channel, and the first ``skip`` steps (the
network's latency padding) are left out.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["class_scores", "predictions"]


def class_scores(output: Any, skip: int = 0, population: int = 1) -> Any:
    """Class scores ``[B, classes]`` of output spikes ``[B, N, ..., T]`` (a numpy array or a torch tensor).

    Parameters
    ----------
    output : np.ndarray or torch.Tensor
        Output spikes (or values) with the batch first and time last.
    skip : int
        Leading steps left out (the latency padding).
    population : int
        Consecutive output neurons per class.

    Raises
    ------
    ValueError
        When ``population`` does not divide the number of output neurons.
    """
    if not hasattr(output, "reshape"):
        output = np.asarray(output)
    if isinstance(output, np.ndarray):
        output = output.astype(np.int64) if output.dtype.kind in "biu" else output
    counts = output[..., skip:].sum(-1)
    counts = counts.reshape(counts.shape[0], counts.shape[1], -1).sum(-1)
    if counts.shape[1] % population:
        raise ValueError(f"population={population} does not divide the {counts.shape[1]} output neurons")
    return counts.reshape(counts.shape[0], -1, population).sum(-1)


def predictions(output: Any, skip: int = 0, population: int = 1) -> np.ndarray:
    """Predicted class per sample: the argmax of :func:`class_scores` (first class on ties), as numpy."""
    scores = class_scores(output, skip, population)
    if not isinstance(scores, np.ndarray):
        scores = scores.detach().cpu().numpy()
    return np.asarray(scores).argmax(axis=1)
