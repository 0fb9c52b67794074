"""Batched bit-exact simulator of a netx network: the integers of Lava ``fixed_pt``, for many samples at once.

Lava runs one sample stream through message-passing processes (~1-2 ms per step); this module runs a
whole batch ``[batch, *input_shape, T]`` layer by layer with vectorised numpy/torch, reproducing the
Lava run exactly (tested spike for spike in every layer against Lava, ``tests/test_sim.py``):

* synapses: ``Dense`` accumulates ``W @ s`` with the weights as Lava's ``Dense`` sees them after netx's
  ``optimize_weight_bits`` and Lava's clip/truncate, then shifts by the weight exponent (``>>`` is a
  floor); ``Conv`` accumulates the convolution and wraps it to 24 bits (``signed_clamp``); both send
  through ``int32`` channels; a consumer whose producer sends ``num_message_bits == 0`` sees
  ``spikes != 0`` (Lava casts to ``bool``: a -1 counts as +1), otherwise the graded signed values;
* neurons: :func:`lava_ternary.fixed.neuron_step` (the one definition of the integer step);
* timing: every synapse adds one step of latency. Each sample starts from the reset state; the
  *window* of a layer (``T`` steps) is where Lava's ``reset_interval`` puts it, see :class:`Timing`.

Float64 matrix products are exact integer arithmetic while every partial sum stays below ``2**53``;
the simulator checks that bound and falls back to int64 arithmetic when it cannot prove it.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from lava_ternary import fixed
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import NetSpec, read_network

log = logging.getLogger(__name__)

CHANNEL_BITS = 32
CONV_ACCUM_BITS = 24
BIAS_EXP = 6
EXACT_FLOAT = 2 ** 53
EXACT_FLOAT32 = 2 ** 24
CACHE_ELEMENTS = 1 << 14
MAX_CONV_MATRIX = 1 << 22
PARALLEL_ELEMENTS = 1 << 18
STOCK_EXACT_INPUT = 2 ** 24


def signed_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of integers to ``bits`` bits (Lava's ``signed_clamp``; an int32 channel is 32)."""
    x = np.asarray(x, dtype=np.int64)
    half = 1 << (bits - 1)
    if x.size == 0 or (x.max() < half and x.min() >= -half):
        return x
    return (x + half) % (2 * half) - half


def floor_shift(x: np.ndarray, exp: int) -> np.ndarray:
    """``x << exp`` for ``exp > 0``, else ``x >> -exp`` (arithmetic shift: a floor), as Lava's Dense."""
    return np.left_shift(x, exp) if exp > 0 else np.right_shift(x, -exp)


@dataclass(frozen=True)
class SimNeuron:
    """Integer neuron parameters of one layer, already broadcastable to the layer's (C,H,W) or (N,) shape.

    Parameters
    ----------
    i_decay, v_decay : np.ndarray
        12-bit decay amounts (``4096 - x`` is kept), as :func:`lava_ternary.fixed.neuron_step` takes them.
    vth : np.ndarray
        Threshold mantissa.
    bias : np.ndarray
        Effective bias in state units (``bias_mant << bias_exp``).
    v_init : np.ndarray
        Voltage at the start of every sample (state units).
    soft_reset, binary : bool
        Reset and spike modes.
    message_bits : int
        Bits of the messages this layer sends: 0 makes consumers see ``spikes != 0``.
    restart : bool
        True for the :class:`lava_ternary.proc.TernaryCUBA` reset (the reset step discards its input and
        sends 0); False for Lava's ``LIFReset`` (zero the state, then integrate the step's input).
    kind : str
        ``'TERNARY'`` or ``'CUBA'`` (for tables).
    """

    i_decay: np.ndarray
    v_decay: np.ndarray
    vth: np.ndarray
    bias: np.ndarray
    v_init: np.ndarray
    soft_reset: bool
    binary: bool
    message_bits: int
    restart: bool
    kind: str = "TERNARY"


@dataclass(frozen=True)
class SimLayer:
    """One simulated layer: an optional synapse feeding an optional neuron group.

    Parameters
    ----------
    index : int
        Index of the layer in the netx file.
    kind : str
        ``'input'`` (neuron driven directly by the input), ``'dense'``, ``'conv'`` or ``'flatten'``.
    in_shape, out_shape : tuple of int
        Shapes in torch order ((C, H, W) or (N,)).
    weight : np.ndarray or None
        Integer weights as Lava's synapse uses them: dense ``(out, in)``, conv ``(out, in/groups, kH, kW)``
        (correlation, torch convention).
    weight_exp : int
        Shift applied to the dense accumulation (floor for negative exponents).
    stride, padding, dilation : tuple of int
        Convolution geometry, (H, W) order.
    groups : int
        Convolution groups.
    neuron : SimNeuron or None
        The neuron group (None only for ``flatten``).
    matrix : np.ndarray or None
        A convolution unrolled into its ``(out_size, in_size)`` connection matrix (built by
        :func:`compile_network` for small layers: one matrix product is faster than a convolution).
    """

    index: int
    kind: str
    in_shape: Tuple[int, ...]
    out_shape: Tuple[int, ...]
    weight: Optional[np.ndarray] = None
    weight_exp: int = 0
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    neuron: Optional[SimNeuron] = None
    matrix: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def num_neurons(self) -> int:
        """Number of neurons of the layer (0 for flatten)."""
        return int(np.prod(self.out_shape)) if self.neuron is not None else 0


@dataclass(frozen=True)
class Timing:
    """Where each layer's sample window sits in the Lava run, as :class:`lava_ternary.netx.Network` places it.

    With ``reset_interval=T`` and ``reset_offset=0``, sample ``n`` is fed at steps ``n*T + 1 .. n*T + T``.
    A layer with *phase* ``p`` resets at steps ``n*T + 1 + p`` and its window step ``k`` is global step
    ``n*T + 1 + p + k``. TERNARY layers all have phase 0; stock ``LIFReset`` layers have netx's phase,
    their position among the built layers. ``lag[j]`` is how many steps behind layer ``j``'s window the
    messages it integrates were sent (producer phase + synaptic latency - own phase).

    Attributes
    ----------
    phase : tuple of int
        Phase of every simulated layer (flatten layers repeat their producer's).
    lag : tuple of int
        Lag of every simulated layer (0 for flatten).
    """

    phase: Tuple[int, ...]
    lag: Tuple[int, ...]


@dataclass
class SimResult:
    """Spikes of every simulated layer, ``[batch, *shape, T]`` int8, torch order; ``layers[i]`` describes ``spikes[i]``."""

    layers: List[SimLayer]
    spikes: List[np.ndarray] = field(default_factory=list)

    @property
    def output(self) -> np.ndarray:
        """Spikes of the last layer."""
        return self.spikes[-1]


def _matmul(w: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """``flat @ w.T`` for integer ``flat`` ``[rows, in]`` and ``w`` ``[out, in]``, exactly, as int64.

    BLAS float32 (float64) products are exact when every partial sum stays below ``2**24`` (``2**53``).
    """
    bound = float(np.abs(w).sum(axis=1).max(initial=0)) * float(np.abs(flat).max(initial=0))
    if bound < EXACT_FLOAT32:
        return np.rint(flat.astype(np.float32) @ w.T.astype(np.float32)).astype(np.int64)
    if bound < EXACT_FLOAT:
        return np.rint(flat.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    return flat.astype(np.int64) @ w.T.astype(np.int64)


def _conv(layer: SimLayer, m: np.ndarray) -> np.ndarray:
    """Correlation of time-major ``m`` (``[T, B, C, H, W]``) with the layer's kernel, exact, as int64."""
    import torch

    frames = m.reshape((-1,) + tuple(layer.in_shape))
    weight = layer.weight
    bound = float(np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1).max()) * float(np.abs(frames).max(initial=0))
    if bound >= EXACT_FLOAT:
        raise OverflowError(f"layer {layer.index}: conv accumulation may exceed 2**53; inputs too large for exact "
                            f"float64 arithmetic")
    with torch.no_grad():
        out = torch.nn.functional.conv2d(torch.from_numpy(frames.astype(np.float64)),
                                         torch.from_numpy(weight.astype(np.float64)),
                                         stride=tuple(layer.stride), padding=tuple(layer.padding),
                                         dilation=tuple(layer.dilation), groups=int(layer.groups)).numpy()
    return np.rint(out).astype(np.int64)


def _synapse_tm(layer: SimLayer, m: np.ndarray) -> np.ndarray:
    """Synaptic accumulation of time-major messages ``m`` (``[T, B, *in_shape]``), as the neuron receives it."""
    lead = m.shape[:2]
    if layer.kind == "input":
        return signed_wrap(m, CHANNEL_BITS)
    flat = np.ascontiguousarray(m).reshape(lead[0] * lead[1], -1)
    if layer.kind == "dense":
        acc = floor_shift(_matmul(layer.weight, flat), layer.weight_exp)
    elif layer.kind == "conv":
        acc = _matmul(layer.matrix, flat) if layer.matrix is not None else _conv(layer, m)
        acc = signed_wrap(acc, CONV_ACCUM_BITS)
    else:
        raise ValueError(f"layer {layer.index}: no synapse for layer kind {layer.kind!r}")
    return signed_wrap(acc, CHANNEL_BITS).reshape(lead + tuple(layer.out_shape))


def synapse(layer: SimLayer, m: np.ndarray) -> np.ndarray:
    """The synaptic accumulation of ``layer`` for messages ``m`` (``[B, *in_shape, T]``), as the neuron receives it."""
    m = np.asarray(m, dtype=np.int64)
    m = m.reshape((m.shape[0],) + tuple(layer.in_shape) + (m.shape[-1],))
    return np.moveaxis(_synapse_tm(layer, np.moveaxis(m, -1, 0)), 0, -1)


def _lagged(msgs: np.ndarray, lag: int) -> np.ndarray:
    """Time-major messages as a consumer ``lag`` steps behind its producer's window sees them (``lag < 0``: ahead).

    The batch rows are consecutive samples of one Lava run, so a window reaching before step 0 sees
    the previous sample's last steps (zeros before the first sample) and one reaching past ``T`` the
    next sample's first steps (zeros after the last).
    """
    if lag == 0:
        return msgs
    steps, batch = msgs.shape[:2]
    stream = np.swapaxes(msgs, 0, 1).reshape((batch * steps,) + msgs.shape[2:])
    out = np.zeros_like(stream)
    if abs(lag) < batch * steps:
        if lag > 0:
            out[lag:] = stream[:-lag]
        else:
            out[:lag] = stream[-lag:]
    return np.swapaxes(out.reshape((batch, steps) + msgs.shape[2:]), 0, 1)


def _neuron_rows(spec: SimNeuron, a: np.ndarray, dead: Optional[np.ndarray], out: np.ndarray, rows: slice) -> None:
    """All steps of one block of batch rows, in cache-sized chunks, written into ``out``."""
    per_sample = int(np.prod(a.shape[2:]))
    chunk = max(1, CACHE_ELEMENTS // max(per_sample, 1))
    expand = (slice(None),) + (None,) * (a.ndim - 2)
    for lo in range(rows.start, rows.stop, chunk):
        sel = slice(lo, min(rows.stop, lo + chunk))
        shape = (sel.stop - lo,) + a.shape[2:]
        v_reset = np.broadcast_to(spec.v_init, shape).astype(np.int64)
        u, v = np.zeros(shape, dtype=np.int64), v_reset.copy()
        for t in range(a.shape[0]):
            if spec.restart and t == 0:
                continue
            u, v, s = fixed.neuron_step(u, v, a[t, sel], i_decay=spec.i_decay, v_decay=spec.v_decay,
                                        vth=spec.vth, bias=spec.bias, soft_reset=spec.soft_reset, binary=spec.binary)
            if dead is not None and dead[t, sel].any():
                off = dead[t, sel][expand]
                u, v, s = np.where(off, 0, u), np.where(off, v_reset, v), np.where(off, 0, s)
            out[t, sel] = s


def _run_neurons_tm(spec: SimNeuron, a: np.ndarray, dead: Optional[np.ndarray]) -> np.ndarray:
    """Neuron group over time-major input ``a`` (``[T, B, *shape]``): batch blocks on threads (numpy frees the GIL)."""
    batch = a.shape[1]
    out = np.zeros(a.shape, dtype=np.int8)
    workers = min(_threads(), max(1, a.size // PARALLEL_ELEMENTS))
    bounds = np.linspace(0, batch, workers + 1).astype(int)
    blocks = [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    if len(blocks) == 1:
        _neuron_rows(spec, a, dead, out, blocks[0])
        return out
    with ThreadPoolExecutor(max_workers=len(blocks)) as pool:
        for future in [pool.submit(_neuron_rows, spec, a, dead, out, rows) for rows in blocks]:
            future.result()
    return out


def _threads() -> int:
    """Worker threads for the neuron loop: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def run_neurons(spec: SimNeuron, a: np.ndarray, dead: Optional[np.ndarray] = None) -> np.ndarray:
    """Run one neuron group over the synaptic input ``a`` (``[B, *shape, T]``) from the reset state; int8 spikes.

    ``dead`` (``[B, T]`` bool, optional) marks steps before the Lava run starts: the neuron keeps its
    initial state there and sends nothing.
    """
    out = _run_neurons_tm(spec, np.moveaxis(np.asarray(a, dtype=np.int64), -1, 0),
                          None if dead is None else np.asarray(dead).T)
    return np.moveaxis(out, 0, -1)


def simulate(layers: Sequence[SimLayer], x: np.ndarray, *, input_message_bits: int = 0,
             timing: Optional[Timing] = None, record: str = "all") -> SimResult:
    """Simulate a batch through the layers; return the spikes of every neuron layer.

    Parameters
    ----------
    layers : sequence of SimLayer
        The network, as :func:`compile_network` builds it from a netx file.
    x : np.ndarray
        Integer input ``[batch, *input_shape, T]`` (torch order), one sample per batch row. The rows are
        the consecutive samples of one Lava run that starts at step 1 and is followed by zero input. For
        networks of TERNARY layers the samples are independent; a stock ``LIFReset`` layer, whose window
        is shifted by its netx reset offset, also sees its neighbours (exactly as in Lava).
    input_message_bits : int
        Message bits of the input (0: the first synapse sees ``x != 0``, as Lava with binary input).
    timing : Timing or None
        Per-layer window phase and lag; the default is :func:`default_timing`.
    record : str
        ``'all'`` keeps every layer's spikes, ``'last'`` only the output layer's.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x: expected [batch, *input_shape, T], got shape {x.shape}")
    if record not in ("all", "last"):
        raise ValueError(f"record={record!r}: expected 'all' or 'last'")
    if x.dtype.kind not in "biuf" or (x.dtype.kind == "f" and not np.array_equal(x, np.round(x))):
        raise ValueError("x: the input must hold integers (Lava messages are integers)")
    expected = layers[0].in_shape if layers else ()
    if int(np.prod(x.shape[1:-1])) != int(np.prod(expected)):
        raise ValueError(f"x: sample shape {x.shape[1:-1]} does not fit the network input {expected}")
    timing = timing or default_timing(layers)
    batch, steps = x.shape[0], x.shape[-1]
    # layers with a phase run (in Lava) before their first reset and past the last sample: simulate those
    # steps in zero-input samples around the batch (steps before the run starts are dead)
    pad = -(-max(timing.phase) // steps)
    msgs = np.moveaxis(x.astype(np.int64).reshape((batch,) + tuple(expected) + (steps,)), -1, 0)
    if pad:
        zeros = np.zeros((steps, pad) + tuple(expected), np.int64)
        msgs = np.concatenate([zeros, msgs, zeros], axis=1)
    stream_step = (np.arange(msgs.shape[1])[None, :] - pad) * steps + np.arange(steps)[:, None]
    bits = int(input_message_bits)
    result = SimResult(layers=[])
    neuron_layers = [l for l in layers if l.neuron is not None]
    for layer, lag, phase in zip(layers, timing.lag, timing.phase):
        if layer.kind == "flatten":
            msgs = msgs.reshape(msgs.shape[:2] + (-1,))
            continue
        seen = msgs if bits > 0 else (msgs != 0).astype(np.int8)
        a = _synapse_tm(layer, _lagged(seen, lag))
        if not layer.neuron.restart and a.size and np.abs(a).max() >= STOCK_EXACT_INPUT:
            log.warning("layer %d: synaptic input %d reaches 2**24; Lava's stock LIF shifts it in int32 and may "
                        "wrap where this simulator does not", layer.index, int(np.abs(a).max()))
        spikes = _run_neurons_tm(layer.neuron, a, (stream_step + phase < 0) if pad else None)
        if record == "all" or layer is neuron_layers[-1]:
            result.layers.append(layer)
            result.spikes.append(np.ascontiguousarray(np.moveaxis(spikes[:, pad:pad + batch], 0, -1)))
        msgs = spikes
        bits = layer.neuron.message_bits
    return result


def default_timing(layers: Sequence[SimLayer]) -> Timing:
    """The timing of :class:`lava_ternary.netx.Network` with ``reset_interval=T``, ``reset_offset=0``.

    Every built layer (``input`` with a neuron, ``dense``, ``conv``/``pool``) takes one netx reset
    offset in order; TERNARY neurons ignore it (phase 0), ``LIFReset`` keeps it. Synapses add one step;
    an ``input`` neuron (no synapse) is fed one step late, as :func:`lava_ternary.parity.run_lava` does,
    so that it lines up with slayer's ``delay_shift`` too.
    """
    phases, lags = [], []
    producer, position = 0, 0
    for layer in layers:
        if layer.kind == "flatten":
            phases.append(producer)
            lags.append(0)
            continue
        phase = 0 if layer.neuron.restart else position
        lags.append(producer + 1 - phase)
        phases.append(phase)
        producer = phase
        position += 1
    return Timing(phase=tuple(phases), lag=tuple(lags))


def conv_matrix(layer: SimLayer) -> np.ndarray:
    """The ``(out_size, in_size)`` integer matrix of a convolution: its response to every one-hot input."""
    size = int(np.prod(layer.in_shape))
    basis = np.eye(size, dtype=np.int64).reshape((1, size) + tuple(layer.in_shape))
    return _conv(layer, basis).reshape(size, -1).T.copy()


def lava_dense_weights(weight: np.ndarray) -> Tuple[np.ndarray, int]:
    """The weights and exponent Lava's ``Dense`` computes with, from the file's weight mantissas.

    netx's loader passes the file weights through ``optimize_weight_bits`` (scale up, choose bits and
    exponent); Lava's ``Dense`` model then clips and truncates them. Both are lava functions, called here
    so that the simulator sees the very same integers.
    """
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    weight = np.asarray(weight, dtype=np.int64)
    if not weight.any():
        return np.zeros_like(weight), 0
    opt, num_bits, exp, _ = optimize_weight_bits(weight.astype(np.float64))
    opt = np.asarray(opt).astype(np.int64)
    mode = determine_sign_mode(opt)
    opt = truncate_weights(clip_weights(opt, mode, num_bits=8), mode, int(num_bits))
    return np.asarray(opt, dtype=np.int64), int(exp)


def _per_channel(value, shape: Tuple[int, ...]) -> np.ndarray:
    """A scalar, per-channel or per-neuron value as an array broadcastable to ``shape`` (torch order)."""
    arr = np.asarray(value, dtype=np.int64)
    if arr.ndim == 0 or arr.size == 1:
        return arr.reshape(())
    if arr.size == int(np.prod(shape)):
        return arr.reshape(shape)
    if arr.size == shape[0]:
        return arr.reshape((shape[0],) + (1,) * (len(shape) - 1))
    raise ValueError(f"{arr.size} values fit neither one per channel nor one per neuron of shape {shape}")


def _neuron(layer, shape: Tuple[int, ...], path: str) -> SimNeuron:
    """Integer parameters of a netfile neuron group (TERNARY or stock CUBA/LOIHI)."""
    spec = layer.neuron
    p = spec.params
    # netx gives an input layer's bias to Input.transform, never to its neuron
    bias = np.zeros((), np.int64) if layer.bias is None or layer.type == "input" else _per_channel(layer.bias, shape)
    common = dict(i_decay=_per_channel(p["iDecay"], shape), v_decay=_per_channel(p["vDecay"], shape),
                  vth=_per_channel(p["vThMant"], shape), bias=np.left_shift(bias, BIAS_EXP))
    if spec.is_ternary:
        return SimNeuron(v_init=_per_channel(spec.v_init, shape), soft_reset=spec.soft_reset, binary=spec.binary,
                         message_bits=spec.message_bits, restart=True, kind="TERNARY", **common)
    if spec.type in ("CUBA", "LOIHI"):
        return SimNeuron(v_init=np.zeros((), np.int64), soft_reset=False, binary=True,
                         message_bits=spec.message_bits, restart=False, kind=spec.type, **common)
    raise NetxFormatError(path, layer.index, "neuron/type",
                          f"the simulator runs TERNARY, CUBA and LOIHI neurons, not {spec.type!r}")


def compile_network(net: Union[NetSpec, str, "os.PathLike[str]"],
                    input_shape: Optional[Tuple[int, ...]] = None) -> List[SimLayer]:
    """Turn a netx file (read by :func:`lava_ternary.netfile.read_network`) into simulator layers.

    Parameters
    ----------
    net : NetSpec or path
        The network, or its file.
    input_shape : tuple of int, optional
        Input shape (C, H, W) or (N,) for files without an ``input`` layer (as ``read_network``).

    Raises
    ------
    NetxFormatError
        For layers the simulator cannot run (recurrent, delays, SDNN/RF neurons, neuron-less synapses).
    """
    if not isinstance(net, NetSpec):
        net = read_network(net, input_shape)
    layers: List[SimLayer] = []
    for spec in net.layers:
        if spec.type == "input" and spec.neuron is None:
            continue
        if spec.type == "flatten":
            layers.append(SimLayer(index=spec.index, kind="flatten", in_shape=spec.input_shape,
                                   out_shape=spec.shape))
            continue
        if spec.type not in ("input", "dense", "conv", "pool"):
            raise NetxFormatError(net.path, spec.index, "type", f"the simulator cannot run {spec.type!r} layers")
        if spec.neuron is None:
            raise NetxFormatError(net.path, spec.index, "neuron", "the simulator needs a neuron group on every "
                                                                   "synapse layer")
        if spec.delay is not None and np.any(spec.delay != 0):
            raise NetxFormatError(net.path, spec.index, "delay", "axonal delays are not simulated")
        if spec.weight_exp:
            # stock netx (and so lava_ternary.netx.Network) builds Dense/Conv without the file's exponent
            raise NetxFormatError(net.path, spec.index, "neuron/weight_exp", "a per-layer weight exponent is not "
                                  "applied by the netx loader, so the simulator refuses it rather than diverge")
        shape = tuple(int(s) for s in spec.shape)
        in_shape = tuple(int(s) for s in (spec.input_shape or spec.shape))
        fields = dict(index=spec.index, in_shape=in_shape, out_shape=shape,
                      neuron=_neuron(spec, shape, net.path))
        if spec.type == "input":
            layers.append(SimLayer(kind="input", **fields))
        elif spec.type == "dense":
            weight, exp = lava_dense_weights(spec.weight)
            layers.append(SimLayer(kind="dense", weight=weight, weight_exp=exp, **fields))
        else:
            weight = spec.weight
            if spec.type == "pool":
                weight = np.broadcast_to(weight, (in_shape[0], 1) + weight.shape[2:]).copy()
            conv = SimLayer(kind="conv", weight=weight, stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups,
                            **fields)
            if int(np.prod(in_shape)) * int(np.prod(shape)) <= MAX_CONV_MATRIX:
                conv = dataclasses.replace(conv, matrix=conv_matrix(conv))
            layers.append(conv)
    if not any(l.neuron is not None for l in layers):
        raise NetxFormatError(net.path, None, "layer", "the network has no neuron layer to simulate")
    return layers


def predictions(output: np.ndarray, skip: int = 0, population: int = 1) -> np.ndarray:
    """Predicted class per sample: output spikes ``[B, N, ..., T]`` summed over steps ``skip..T-1``, per class.

    The ``N`` output neurons form consecutive groups of ``population`` per class (the training readout,
    ``training.models.SpikingNet.readout``); a conv output sums its spatial positions per channel.
    """
    counts = np.asarray(output)[..., skip:].astype(np.int64).sum(axis=-1)
    counts = counts.reshape(counts.shape[0], counts.shape[1], -1).sum(axis=-1)
    if counts.shape[1] % population:
        raise ValueError(f"population={population} does not divide the {counts.shape[1]} output neurons")
    return counts.reshape(counts.shape[0], -1, population).sum(axis=-1).argmax(axis=1)
