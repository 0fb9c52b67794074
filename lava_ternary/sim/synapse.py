"""Synapse arithmetic of the simulator: exact sums of whole message blocks, and what the neurons receive.

Lava's ``Dense`` accumulates ``W @ s`` and shifts by the weight exponent (``>>`` is a floor); Lava's
``Conv`` accumulates the convolution and wraps it to 24 bits (``signed_clamp``); both send through
``int32`` channels. Float32 (float64) matrix products and convolutions are exact integer arithmetic
while every partial sum stays below ``2**24`` (``2**53``): :func:`exact_dtype` picks the cheapest exact
precision from a proven bound, and the int64 path is the fallback. The layer kinds
(:mod:`lava_ternary.kinds`) call these functions for their own synapse.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Tuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lava_ternary.sim.layers import SimLayer

CHANNEL_BITS = 32
EXACT_FLOAT = 2 ** 53
EXACT_FLOAT32 = 2 ** 24


def floor_shift(x: np.ndarray, exp: int) -> np.ndarray:
    """``x << exp`` for ``exp > 0``, else ``x >> -exp`` (arithmetic shift: a floor), as Lava's Dense."""
    return np.left_shift(x, exp) if exp > 0 else np.right_shift(x, -exp)


def signed_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits (Lava's ``signed_clamp``; an int32 channel is 32)."""
    half = 1 << (bits - 1)
    return ((x + half) & (2 * half - 1)) - half


def exact_dtype(bound: float) -> type:
    """The cheapest dtype whose arithmetic is exact for integer sums of magnitude below ``bound``."""
    if bound < EXACT_FLOAT32:
        return np.float32
    if bound < EXACT_FLOAT:
        return np.float64
    return np.int64


def matmul(flat: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``flat @ matrix`` through torch (its float GEMM is faster than numpy's here), as numpy."""
    import torch

    with torch.no_grad():
        return (torch.from_numpy(flat) @ torch.from_numpy(matrix)).numpy()


def conv2d(layer: "SimLayer", frames: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """torch ``conv2d`` of float ``frames`` (``[F, C, H, W]``) with the layer's geometry and float ``weight``."""
    import torch

    with torch.no_grad():
        return torch.nn.functional.conv2d(torch.from_numpy(frames), torch.from_numpy(weight),
                                          stride=tuple(layer.stride), padding=tuple(layer.padding),
                                          dilation=tuple(layer.dilation), groups=int(layer.groups)).numpy()


def dense_sums(layer: "SimLayer", m: np.ndarray, in_max: float) -> Tuple[np.ndarray, float]:
    """Exact ``W @ m`` sums ``[K, B, N]`` of time-major messages ``m`` (``[K, B, *in_shape]``) and their bound."""
    lead, size = m.shape[:2], int(np.prod(layer.out_shape))
    bound = layer.weight_bound * in_max
    dtype = exact_dtype(bound)
    if dtype is np.int64:
        flat = np.asarray(m, dtype=np.int64).reshape(-1, layer.weight.shape[1])
        return (flat @ layer.weight.T).reshape(lead + (size,)), bound
    weight = layer.weight_f32 if dtype is np.float32 else layer.weight.astype(dtype)
    flat = np.ascontiguousarray(m, dtype=dtype).reshape(-1, weight.shape[1])
    return matmul(flat, weight.T).reshape(lead + (size,)), bound


def conv_sums(layer: "SimLayer", m: np.ndarray, in_max: float) -> Tuple[np.ndarray, float]:
    """Exact convolution sums ``[K, B, N]`` of ``m`` (small layers multiply by their unrolled matrix) and their bound."""
    lead, size = m.shape[:2], int(np.prod(layer.out_shape))
    bound = layer.weight_bound * in_max
    dtype = exact_dtype(bound)
    if dtype is np.int64:
        raise OverflowError(f"layer {layer.index}: conv accumulation may exceed 2**53; inputs too large for exact "
                            f"float64 arithmetic")
    if layer.matrix is not None and dtype is np.float32:
        flat = np.ascontiguousarray(m, dtype=dtype).reshape(-1, layer.matrix.shape[0])
        return matmul(flat, layer.matrix).reshape(lead + (size,)), bound
    weight = layer.weight_f32 if dtype is np.float32 else layer.weight.astype(dtype)
    out = conv2d(layer, np.ascontiguousarray(m, dtype=dtype).reshape((-1,) + tuple(layer.in_shape)), weight)
    return out.reshape(lead + (size,)), bound


def received(layer: "SimLayer", acc: np.ndarray, bound: float) -> np.ndarray:
    """What the neurons receive from the exact sums: weight exponent, the accumulator wrap, the int32 channel.

    float32 sums (``|sum| < 2**24``) stay float32 when no wrap can happen: the weight exponent is then an
    exact multiplication by a power of two and a floor, in place. Otherwise the int64 path.
    """
    bits = layer.kind.accum_bits
    exp = layer.weight_exp
    if acc.dtype == np.float32 and bound * 2.0 ** exp < min(2 ** (bits - 1), EXACT_FLOAT32):
        if exp:
            np.multiply(acc, np.float32(2.0 ** exp), out=acc)
            np.floor(acc, out=acc)
        return acc
    return signed_wrap(signed_wrap(floor_shift(acc.astype(np.int64), exp), bits), CHANNEL_BITS)


def receive(layer: "SimLayer", m: np.ndarray, in_max: float) -> np.ndarray:
    """The layer's synapse applied to time-major messages ``m`` (``[K, B, N_in]``): what its neurons receive."""
    return received(layer, *layer.kind.sums(layer, m.reshape(m.shape[:2] + tuple(layer.in_shape)), in_max))


def synapse(layer: "SimLayer", m: np.ndarray) -> np.ndarray:
    """The synaptic input of ``layer`` for messages ``m`` (``[B, *in_shape, T]``), as its neuron receives it (int64)."""
    m = np.asarray(m, dtype=np.int64)
    m = np.moveaxis(m.reshape((m.shape[0],) + tuple(layer.in_shape) + (m.shape[-1],)), -1, 0)
    a = receive(layer, m, float(np.abs(m).max(initial=0))).astype(np.int64)
    return np.moveaxis(a.reshape(m.shape[:2] + tuple(layer.out_shape)), 0, -1)


def lagged(a: np.ndarray, lag: int) -> np.ndarray:
    """``out[s] = a[s - lag]`` along the first (time) axis, zero where ``s - lag`` falls outside; ``lag`` may be < 0."""
    out = np.zeros_like(a)
    n = a.shape[0]
    if 0 <= lag < n:
        out[lag:] = a[:n - lag]
    elif -n < lag < 0:
        out[:n + lag] = a[-lag:]
    return out


def shifted(acc: np.ndarray, shift: int, discard: int) -> np.ndarray:
    """int64 ``out[t] = acc[t - shift]`` (time-major), zero where ``t - shift < 0`` or ``t <= discard``."""
    out = lagged(np.asarray(acc, np.int64), shift)
    out[:discard + 1] = 0
    return out


def delayed(layer: "SimLayer", acc: np.ndarray, lag: int) -> np.ndarray:
    """Synaptic input ``[T, B, N]`` of every producer step, moved to the consumer step that integrates it.

    Consumer step ``t`` of neuron ``n`` reads producer step ``t - lag - delay[n]`` of the same sample and
    nothing in steps ``t <= delay[n]`` (reset step and carry-over); the result is read with lag 0.
    """
    if lag != 1:
        raise ValueError(f"layer {layer.index}: a delayed layer needs a TERNARY (or input) producer; lag {lag}")
    steps, neurons = acc.shape[0], acc.shape[2]
    t = np.arange(steps)[:, None]
    source = t - lag - layer.delay[None, :]
    gathered = acc[np.clip(source, 0, steps - 1), :, np.arange(neurons)[None, :]].transpose(0, 2, 1)
    return np.ascontiguousarray(np.where((t > layer.delay[None, :])[:, None, :], gathered, 0).astype(acc.dtype))
