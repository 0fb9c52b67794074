"""The layer-wise conversion error of Bojković et al. (data-driven initialisation), computed directly.

For activations ``a_j >= 0``, latency ``T``, threshold ``theta > 0`` and initial potential ``v0``, an
integrate-and-fire neuron with soft reset driven by the constant input ``a`` for ``T`` steps emits
``n(a) = clip(floor((T·a + v0) / theta), 0, T)`` spikes and represents ``alpha(a) = theta · n(a) / T``.
The conversion error is ``C_m(theta, v0) = mean_j |a_j − alpha(a_j)|^m`` (m = 1: L1, m = 2: L2).
"""
from __future__ import annotations

import numpy as np

ERRORS = {"l1": 1, "l2": 2}
_CHUNK = 1 << 22


def error_power(error: str) -> int:
    """The exponent ``m`` of an error name (``'l1'`` or ``'l2'``); ``ValueError`` naming ``error`` otherwise."""
    if error not in ERRORS:
        raise ValueError(f"error must be one of {sorted(ERRORS)}, got {error!r}")
    return ERRORS[error]


def spike_counts(a: np.ndarray, T: int, theta: float, v0: float) -> np.ndarray:
    """``n(a) = clip(floor((T·a + v0) / theta), 0, T)``: spikes of a soft-reset IF neuron in ``T`` steps."""
    return np.clip(np.floor((T * np.asarray(a, dtype=np.float64) + v0) / theta), 0, T)


def conversion_error(activations: np.ndarray, T: int, theta: float, v0: float, error: str = "l1",
                     signed: bool = False) -> float:
    """``C_m(theta, v0) = mean_j |a_j − theta·n(a_j)/T|^m``, evaluated directly in bounded-memory chunks.

    Parameters
    ----------
    activations : np.ndarray
        Activation values (any shape; flattened). Must be ``>= 0`` unless ``signed``.
    T : int
        Latency (number of time steps), ``>= 1``.
    theta, v0 : float
        Threshold (``> 0``) and initial membrane potential.
    error : {'l1', 'l2'}
        The exponent ``m``.
    signed : bool
        Ternary neurons with thresholds ``±theta``: the error is taken over ``|a|``.
    """
    m = error_power(error)
    a = np.asarray(activations).reshape(-1)
    if a.size == 0:
        raise ValueError("activations is empty")
    total = 0.0
    for start in range(0, a.size, _CHUNK):
        x = a[start:start + _CHUNK].astype(np.float64)
        if signed:
            x = np.abs(x)
        d = np.abs(x - theta * spike_counts(x, T, theta, v0) / T)
        total += float(np.sum(d if m == 1 else d * d))
    return total / a.size
