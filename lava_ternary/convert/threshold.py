"""Per-layer threshold and initial membrane potential for ANN-to-SNN conversion.

The objective (Bojković et al., Sec. 4): for one layer, activations ``a_j >= 0`` (ReLU outputs over a
calibration set), latency ``T``, threshold ``theta > 0``, initial potential ``v0``: an integrate-and-fire
neuron with soft reset driven by the constant input ``a`` for ``T`` steps emits
``n(a) = clip(floor((T·a + v0) / theta), 0, T)`` spikes and represents ``alpha(a) = theta · n(a) / T``.
The conversion error is ``C_m(theta, v0) = mean_j |a_j − alpha(a_j)|^m``, m = 1 (L1, the paper's) or
2 (L2). The paper proves ``v0 = theta/2`` at the optimum (Thms 4.1, 4.3).

Methods: ``'exact'`` (global minimum over all real ``theta > 0``, :mod:`.exact`), ``'paper'``
(Algorithms 1 and 2 as published, :mod:`.paper`), and the baselines ``'max'`` (Diehl et al. 2015) and
``'p99.9'`` (99.9th percentile of the positive activations, Rueckauer et al. 2016).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from .exact import SortedActivations, exact_search
from .objective import conversion_error, error_power
from .paper import algorithm1, algorithm2

METHODS = ("exact", "paper", "max", "p99.9")
INITS = {"half": 0.5, "zero": 0.0}

Number = Union[float, np.ndarray]


@dataclass(frozen=True)
class ThresholdResult:
    """Chosen threshold ``theta``, initial potential ``v0`` and the error ``C_m`` there (arrays per channel)."""

    theta: Number
    v0: Number
    error: Number


def _validate(a: np.ndarray, T: int, signed: bool) -> None:
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be an integer >= 1, got {T!r}")
    if a.size == 0:
        raise ValueError("activations is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError("activations contain NaN or inf")
    if not signed and np.any(a < 0):
        raise ValueError("activations must be >= 0 (ReLU outputs); pass signed=True for signed values")


def _single(a: np.ndarray, sorted_all: Optional[np.ndarray], T: int, m: int, method: str, beta: float,
            error: str, paper_max_samples: Optional[int], where: str) -> ThresholdResult:
    """Threshold of one population (``sorted_all``: ``|a|`` ascending, if already sorted)."""
    if sorted_all is None:
        s = SortedActivations.from_array(a, squares=m == 2)
    else:
        s = SortedActivations(sorted_all[np.searchsorted(sorted_all, 0.0, side="right"):], sorted_all.size,
                              squares=m == 2)
    if s.values.size == 0:
        raise ValueError(f"activations{where} are all zero: no threshold can be derived")
    if method == "exact":
        theta, value = exact_search(s, int(T), m)
        return ThresholdResult(theta, beta * theta, value)
    if method == "paper":
        if T == 1:
            theta, v0 = algorithm1(s.values, s.n_total)
        else:
            theta = algorithm2(s.values, int(T), paper_max_samples)
            v0 = theta / 2.0
    elif method == "max":
        theta = float(s.values[-1])
        v0 = beta * theta
    else:
        theta = float(np.percentile(s.values, 99.9))
        v0 = beta * theta
    return ThresholdResult(theta, v0, conversion_error(s.values, int(T), theta, v0, error) * s.values.size
                           / s.n_total)


def optimal_threshold(activations: np.ndarray, T: int, error: str = "l1", method: str = "exact",
                      signed: bool = False, axis: Optional[int] = None, init: str = "half",
                      paper_max_samples: Optional[int] = None) -> ThresholdResult:
    """Threshold and initial potential minimising (or, for baselines, just evaluating) ``C_m`` for one layer.

    Parameters
    ----------
    activations : np.ndarray
        Activation values of one layer over a calibration set, any shape.
    T : int
        Latency (time steps), ``>= 1``.
    error : {'l1', 'l2'}
        ``m`` of ``C_m``.
    method : {'exact', 'paper', 'max', 'p99.9'}
        Search method (see the module docstring).
    signed : bool
        Ternary neurons with thresholds ``±theta``: the values may be negative and the error is over ``|a|``.
    axis : int, optional
        Channel axis: one threshold per channel (returned fields are arrays of that length).
    init : {'half', 'zero'}
        ``v0 = theta/2`` (the paper's optimum) or, for the baselines only, ``v0 = 0`` (classic conversion).
    paper_max_samples : int, optional
        For ``method='paper'`` with ``T > 1``: thin the sorted array to at most this many values first.

    Returns
    -------
    ThresholdResult
        ``theta``, ``v0`` and ``error`` (``C_m`` at that point, the definition above).
    """
    m = error_power(error)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {sorted(INITS)}, got {init!r}")
    if method in ("exact", "paper") and init != "half":
        raise ValueError(f"init='zero' is only for the baselines 'max' and 'p99.9', not method={method!r}")
    a = np.asarray(activations)
    _validate(a, T, signed)
    if signed:
        a = np.abs(a)
    beta = INITS[init]
    if axis is None:
        return _single(a, None, T, m, method, beta, error, paper_max_samples, "")
    if a.ndim == 0:
        raise ValueError("axis given but activations is a scalar")
    rows = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
    rows = np.sort(rows, axis=1)
    results = [_single(None, row, T, m, method, beta, error, paper_max_samples, f" of channel {c}")
               for c, row in enumerate(rows)]
    return ThresholdResult(np.array([r.theta for r in results]), np.array([r.v0 for r in results]),
                           np.array([r.error for r in results]))
