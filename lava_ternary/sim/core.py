"""Batched bit-exact simulator of a netx network: the integers of Lava ``fixed_pt``, for many samples at once.

Lava runs one sample stream through message-passing processes (~1-2 ms per step); this module runs a
whole batch ``[batch, *input_shape, T]`` layer by layer with vectorised numpy/torch, reproducing the
Lava run exactly (tested spike for spike in every layer against Lava, ``tests/test_sim.py``):

* synapses: ``Dense`` accumulates ``W @ s`` with the weights as Lava's ``Dense`` sees them after netx's
  ``optimize_weight_bits`` and Lava's clip/truncate, then shifts by the weight exponent (``>>`` is a
  floor); ``Conv`` accumulates the convolution and wraps it to 24 bits (``signed_clamp``); both send
  through ``int32`` channels; a consumer whose producer sends ``num_message_bits == 0`` sees
  ``spikes != 0`` (Lava casts to ``bool``: a -1 counts as +1), otherwise the graded signed values;
* neurons: :func:`lava_ternary.fixed.step` (the one definition of the integer step), compiled by numba
  into one fused loop per layer (:mod:`lava_ternary.sim.kernel`);
* timing: every synapse adds one step of latency. Each sample starts from the reset state; the
  *window* of a layer (``T`` steps) is where Lava's ``reset_interval`` puts it, see :class:`Timing`;
* graph files (``concat`` layers, ``docs/netx_schema.md``): the shortcut synapse of a residual block reads
  its source layer's kept messages one step later than the main synapse reads the previous layer (its
  axonal delay), both sums feed one neuron group, and window step 1 is discarded (see :class:`Shortcut`);
* axonal delays (a TERNARY dense layer's ``delay``, one per output neuron, Lava's ``DelayDense``):
  neuron ``n`` integrates its synaptic input ``delay[n]`` steps later, and, as
  :class:`lava_ternary.proc.TernaryCUBA` does, discards what reaches it in window steps
  ``1 .. delay[n]`` (the previous sample's carry-over).

Float32 (float64) matrix products and convolutions are exact integer arithmetic while every partial
sum stays below ``2**24`` (``2**53``); the simulator proves that bound from the weights and the largest
message before it picks a precision, and falls back to int64 arithmetic when it cannot. Producer steps
that send nothing at all, or that no consumer step reads (a TERNARY layer's reset step discards its
input), are not multiplied.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from lava_ternary import readout
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import NetSpec, read_network

log = logging.getLogger(__name__)

CHANNEL_BITS = 32
CONV_ACCUM_BITS = 24
BIAS_EXP = 6
EXACT_FLOAT = 2 ** 53
EXACT_FLOAT32 = 2 ** 24
STOCK_EXACT_INPUT = 2 ** 24
#: Neuron steps per simulator thread: smaller batches run on one thread (a hand-off costs more).
PARALLEL_STEPS = 1 << 16
#: Largest message buffer a thread keeps between calls (bytes).
SCRATCH_BYTES = 32 << 20
#: Largest unrolled convolution matrix (in_size * out_size) multiplied instead of convolved.
MATRIX_ELEMENTS = 1 << 16

_POOL: Optional[ThreadPoolExecutor] = None


@dataclass(frozen=True)
class SimNeuron:
    """Integer neuron parameters of one layer: int64 arrays with one value per block of ``N // len(vth)``
    consecutive neurons in torch order (one block for a uniform layer, one per channel, or one per neuron),
    so that :mod:`lava_ternary.sim.kernel` sees scalars inside a block.

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
    delay : np.ndarray or None
        Axonal delay of every output neuron (int64 ``(N,)``), dense TERNARY layers only.
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
    delay: Optional[np.ndarray] = None
    shortcut: Optional["Shortcut"] = None

    @functools.cached_property
    def num_neurons(self) -> int:
        """Number of neurons of the layer (0 for flatten)."""
        return int(np.prod(self.out_shape)) if self.neuron is not None else 0

    @functools.cached_property
    def weight_bound(self) -> float:
        """Largest sum of ``|w|`` into one output: times the largest ``|message|`` it bounds every partial sum."""
        return float(np.abs(self.weight).reshape(self.weight.shape[0], -1).sum(axis=1).max(initial=0))

    @functools.cached_property
    def weight_f32(self) -> np.ndarray:
        """The weights as float32 (exact: 8-bit mantissas), for the float32 products."""
        return self.weight.astype(np.float32)

    @functools.cached_property
    def matrix(self) -> Optional[np.ndarray]:
        """A small convolution unrolled into its float32 ``(in_size, out_size)`` matrix (one product beats a
        convolution call there), else None."""
        size, out = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
        if self.kind != "conv" or size * out > MATRIX_ELEMENTS:
            return None
        basis = np.eye(size, dtype=np.float64).reshape((size,) + tuple(self.in_shape))
        return _conv(self, basis, self.weight.astype(np.float64)).reshape(size, out).astype(np.float32)

    def precompute(self) -> "SimLayer":
        """Compute the cached weight arrays now (at compile time) rather than in the first simulation."""
        if self.weight is not None:
            _ = self.weight_bound, self.weight_f32, self.matrix
        return self


@dataclass(frozen=True)
class Shortcut:
    """The second synapse group of a ``concat`` layer (graph extension): a 1x1 conv from an earlier layer.

    Parameters
    ----------
    source : int
        File index of the layer whose messages it reads.
    synapse : SimLayer
        The 1x1 convolution (kind ``'conv'``, the consumer's neuron group) from the source's shape.
    delay : int
        Axonal delay: the consumer integrates source step ``t - lag - delay`` and discards window steps
        ``1 .. delay`` (as :class:`lava_ternary.proc.TernaryCUBA` with ``input_delay``).
    """

    source: int
    synapse: SimLayer
    delay: int


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


def floor_shift(x: np.ndarray, exp: int) -> np.ndarray:
    """``x << exp`` for ``exp > 0``, else ``x >> -exp`` (arithmetic shift: a floor), as Lava's Dense."""
    return np.left_shift(x, exp) if exp > 0 else np.right_shift(x, -exp)


def signed_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits (Lava's ``signed_clamp``; an int32 channel is 32)."""
    half = 1 << (bits - 1)
    return ((x + half) & (2 * half - 1)) - half


def _exact_dtype(bound: float) -> type:
    """The cheapest dtype whose arithmetic is exact for integer sums of magnitude below ``bound``."""
    if bound < EXACT_FLOAT32:
        return np.float32
    if bound < EXACT_FLOAT:
        return np.float64
    return np.int64


def _sums(layer: SimLayer, m: np.ndarray, in_max: float) -> Tuple[np.ndarray, float]:
    """Exact synaptic sums ``[K, B, N]`` of time-major messages ``m`` (``[K, B, *in_shape]``, ``|m| <= in_max``).

    Dense layers multiply by ``W.T``, conv layers correlate with the kernel (torch ``conv2d``; small ones
    multiply by their unrolled :attr:`SimLayer.matrix`), in float32 or float64 when that is exact (see
    :func:`_exact_dtype`), else (dense only) int64. Also returns the bound on ``|sum|`` that chose the
    precision.
    """
    lead, size = m.shape[:2], layer.num_neurons
    if layer.kind == "input":
        return np.asarray(m, dtype=np.int64).reshape(lead + (size,)), in_max
    bound = layer.weight_bound * in_max
    dtype = _exact_dtype(bound)
    if layer.kind not in ("dense", "conv"):
        raise ValueError(f"layer {layer.index}: no synapse for layer kind {layer.kind!r}")
    if layer.kind == "dense" and dtype is np.int64:
        flat = np.asarray(m, dtype=np.int64).reshape(-1, layer.weight.shape[1])
        return (flat @ layer.weight.T).reshape(lead + (size,)), bound
    if dtype is np.int64:
        raise OverflowError(f"layer {layer.index}: conv accumulation may exceed 2**53; inputs too large for exact "
                            f"float64 arithmetic")
    import torch

    weight = layer.weight_f32 if dtype is np.float32 else layer.weight.astype(dtype)
    if layer.kind == "conv" and (layer.matrix is None or dtype is not np.float32):
        out = _conv(layer, np.ascontiguousarray(m, dtype=dtype).reshape((-1,) + tuple(layer.in_shape)), weight)
    else:
        matrix = layer.matrix if layer.kind == "conv" else weight.T
        flat = np.ascontiguousarray(m, dtype=dtype).reshape(-1, matrix.shape[0])
        with torch.no_grad():
            out = (torch.from_numpy(flat) @ torch.from_numpy(matrix)).numpy()
    return out.reshape(lead + (size,)), bound


def _conv(layer: SimLayer, frames: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """torch ``conv2d`` of float ``frames`` (``[F, C, H, W]``) with the layer's geometry and float ``weight``."""
    import torch

    with torch.no_grad():
        return torch.nn.functional.conv2d(torch.from_numpy(frames), torch.from_numpy(weight),
                                          stride=tuple(layer.stride), padding=tuple(layer.padding),
                                          dilation=tuple(layer.dilation), groups=int(layer.groups)).numpy()


def _received(layer: SimLayer, acc: np.ndarray, bound: float) -> np.ndarray:
    """What the neurons receive from the exact sums: weight exponent, the conv's 24-bit wrap, the int32 channel.

    float32 sums (``|sum| < 2**24``) stay float32 when no wrap can happen: the weight exponent is then an
    exact multiplication by a power of two and a floor, in place. Otherwise the int64 path.
    """
    bits = CONV_ACCUM_BITS if layer.kind == "conv" else CHANNEL_BITS
    exp = layer.weight_exp
    if acc.dtype == np.float32 and bound * 2.0 ** exp < min(2 ** (bits - 1), EXACT_FLOAT32):
        if exp:
            np.multiply(acc, np.float32(2.0 ** exp), out=acc)
            np.floor(acc, out=acc)
        return acc
    return signed_wrap(signed_wrap(floor_shift(acc.astype(np.int64), exp), bits), CHANNEL_BITS)


def synapse(layer: SimLayer, m: np.ndarray) -> np.ndarray:
    """The synaptic input of ``layer`` for messages ``m`` (``[B, *in_shape, T]``), as its neuron receives it (int64)."""
    m = np.asarray(m, dtype=np.int64)
    m = np.moveaxis(m.reshape((m.shape[0],) + tuple(layer.in_shape) + (m.shape[-1],)), -1, 0)
    a = _received(layer, *_sums(layer, m, float(np.abs(m).max(initial=0)))).astype(np.int64)
    return np.moveaxis(a.reshape(m.shape[:2] + tuple(layer.out_shape)), 0, -1)


def _blocks(values: Sequence[np.ndarray], shape: Tuple[int, ...]) -> List[np.ndarray]:
    """Parameters broadcastable to ``shape`` as one value per block: per layer, per channel, or per neuron."""
    flat = [np.broadcast_to(np.asarray(x, np.int64), shape).reshape(-1) for x in values]
    size = int(np.prod(shape))
    blocks = next(g for g in (1, shape[0], size)
                  if all((vals.reshape(g, -1) == vals.reshape(g, -1)[:, :1]).all() for vals in flat))
    return [np.ascontiguousarray(vals.reshape(blocks, -1)[:, 0]) for vals in flat]


def _frames(restart: bool, lag: int, active: Sequence[bool], alias: Sequence[int]) -> Tuple[slice | List[int], np.ndarray]:
    """Producer steps a consumer must multiply, and the ``slot`` map from every step to its row of the product.

    A step is multiplied when it sends something (``active``) and a used consumer step reads it (a
    TERNARY layer's reset step discards its input); a step whose messages equal an earlier step's
    (``alias[t]``, e.g. direct-encoded input repeating one image) reuses that step's row.
    """
    steps = len(active)
    used = sorted({(t - lag) % steps for t in range(1 if restart else 0, steps)} & {t for t in range(steps) if active[t]})
    chosen = sorted({alias[t] for t in used})
    slot = np.full(steps, -1, np.int64)
    for t in used:
        slot[t] = chosen.index(alias[t])
    if chosen and chosen[-1] - chosen[0] + 1 == len(chosen):
        return slice(chosen[0], chosen[-1] + 1), slot  # a view, no copy
    return chosen, slot


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
        networks of TERNARY layers the samples are independent: slices of the batch run on threads, and
        meanwhile torch's intra-op thread count is 1 (restored after). A stock ``LIFReset`` layer, whose
        window is shifted by its netx reset offset, also sees its neighbours (exactly as in Lava).
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
    x3 = np.ascontiguousarray(x.reshape((batch, int(np.prod(expected)), steps)), dtype=np.int64)
    neuron_layers = [l for l in layers if l.neuron is not None]
    kept = [l for l in neuron_layers if record == "all" or l is neuron_layers[-1]]
    recs = [np.empty((batch, steps, l.num_neurons), np.int8) for l in kept]
    run = functools.partial(_run_layers, layers, timing, kept, input_message_bits <= 0)
    workers = _workers(batch * steps * sum(l.num_neurons for l in neuron_layers))
    if workers == 1 or not all(l.neuron.restart for l in neuron_layers):
        run(x3, recs)
    else:
        # TERNARY samples are independent: each thread runs a slice of the batch through all layers
        bounds = np.linspace(0, batch, workers + 1).astype(int)
        with _torch_threads(1):
            jobs = [_pool(workers - 1).submit(run, x3[lo:hi], [r[lo:hi] for r in recs])
                    for lo, hi in zip(bounds[1:-1], bounds[2:])]
            run(x3[:bounds[1]], [r[:bounds[1]] for r in recs])  # the first slice on this thread
            for job in jobs:
                job.result()
    spikes = [np.moveaxis(r.reshape((batch, steps) + tuple(l.out_shape)), 1, -1) for l, r in zip(kept, recs)]
    return SimResult(layers=kept, spikes=spikes)


def _run_layers(layers: Sequence[SimLayer], timing: Timing, kept: Sequence[SimLayer], binary: bool, x: np.ndarray,
                recs: Sequence[np.ndarray]) -> None:
    """Run int64 input ``x`` (``[B, N_in, T]``; ``binary``: Lava sees ``x != 0``) through all layers.

    The spikes of the ``kept`` layers are written to ``recs`` (int8 ``[B, T, N]``).
    """
    from lava_ternary.sim import kernel  # numba loads with the first simulation, not for file readers (info)

    batch, size, steps = x.shape
    # layers with a phase run (in Lava) before their first reset and past the last sample: simulate those
    # steps in zero-input samples around the batch (steps before the run starts are dead)
    pad = -(-max(timing.phase) // steps)
    in_max = 1.0 if binary else float(max(x.max(initial=0), -x.min(initial=0)))
    msgs = np.zeros((steps, batch + 2 * pad, size), np.float32 if in_max < EXACT_FLOAT32 else np.int64)
    active, same = np.empty(steps, np.bool_), np.empty(steps, np.bool_)
    kernel.time_major(x, binary, msgs[:, pad:pad + batch], active, same)
    alias = list(range(steps))
    for t in range(1, steps):
        alias[t] = alias[t - 1] if same[t] else t
    nobody = np.zeros((0, steps, 0), np.int8)
    sources = {layer.shortcut.source for layer in layers if layer.shortcut is not None}
    kept_msgs: Dict[int, Tuple[np.ndarray, float]] = {}
    for layer, lag, phase in zip(layers, timing.lag, timing.phase):
        if layer.kind == "flatten":
            continue
        if layer.shortcut is not None:
            acc = _graph_input(layer, msgs, in_max, lag, *kept_msgs[layer.shortcut.source])
            slot, lag = np.arange(steps, dtype=np.int64), 0
        elif layer.delay is not None:
            m = msgs[:steps]
            acc = _delayed(layer, _received(layer, *_sums(layer, m.reshape(m.shape[:2] + tuple(layer.in_shape)),
                                                           in_max)), lag)
            slot, lag = np.arange(steps, dtype=np.int64), 0
        else:
            frames, slot = _frames(layer.neuron.restart, lag, active, alias)
            m = msgs[frames]
            acc = _received(layer, *_sums(layer, m.reshape(m.shape[:2] + tuple(layer.in_shape)), in_max))
        if not layer.neuron.restart and acc.size and np.abs(acc).max() >= STOCK_EXACT_INPUT:
            log.warning("layer %d: synaptic input %d reaches 2**24; Lava's stock LIF shifts it in int32 and may "
                        "wrap where this simulator does not", layer.index, int(np.abs(acc).max()))
        rec = recs[kept.index(layer)] if layer in kept else nobody.reshape(0, steps, layer.num_neurons)
        msgs = _scratch(layer.index, (steps, msgs.shape[1], layer.num_neurons))
        active = kernel.run_group(layer.neuron, acc, slot, lag=lag, phase=phase, pad=pad, rec=rec, nxt=msgs)
        in_max, alias = 1.0, range(steps)
        if layer.index in sources:
            kept_msgs[layer.index] = (msgs, in_max)


def _shifted(acc: np.ndarray, shift: int, discard: int) -> np.ndarray:
    """int64 ``out[t] = acc[t - shift]`` (time-major), zero where ``t - shift < 0`` or ``t <= discard``."""
    out = np.zeros(acc.shape, np.int64)
    start = max(shift, discard + 1)
    if start < acc.shape[0]:
        out[start:] = acc[start - shift:acc.shape[0] - shift]
    return out


def _graph_input(layer: SimLayer, msgs: np.ndarray, in_max: float, lag: int, source: np.ndarray,
                 source_max: float) -> np.ndarray:
    """Synaptic input ``[T, B, N]`` of a ``concat`` layer, aligned to its steps (read with lag 0).

    Both synapse groups feed one neuron group, as Lava's InPort sums its OutPorts: the main synapse
    reads the previous layer ``lag`` steps back, the shortcut its source ``lag + delay`` steps back, and
    window steps ``1 .. delay`` are discarded (the previous sample's messages still in the delayed synapse).
    """
    steps = msgs.shape[0]
    sc = layer.shortcut
    main = _received(layer, *_sums(layer, msgs[:steps].reshape(msgs.shape[:2] + tuple(layer.in_shape)), in_max))
    side = _received(sc.synapse, *_sums(sc.synapse, source[:steps].reshape(source.shape[:2] + tuple(sc.synapse.in_shape)),
                                        source_max))
    total = _shifted(main, lag, sc.delay) + _shifted(side, lag + sc.delay, sc.delay)
    return signed_wrap(total, CHANNEL_BITS)


class _Scratch(threading.local):
    """Per-thread reusable float32 message buffers: fresh multi-MB arrays cost page faults on every call."""

    def __init__(self) -> None:
        self.buffers: Dict[int, np.ndarray] = {}


_SCRATCH = _Scratch()


def _scratch(key: int, shape: Tuple[int, ...]) -> np.ndarray:
    """An uninitialised float32 array of ``shape`` for this thread, reused across calls up to :data:`SCRATCH_BYTES`."""
    size = int(np.prod(shape))
    buf = _SCRATCH.buffers.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size, np.float32)
        if size * 4 <= SCRATCH_BYTES:
            _SCRATCH.buffers[key] = buf
    return buf[:size].reshape(shape)


def _workers(work: int) -> int:
    """Threads for a simulation of ``work`` neuron steps: the CPUs this process may use, one per chunk of work."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, work // PARALLEL_STEPS))


def _pool(workers: int) -> ThreadPoolExecutor:
    """One process-wide thread pool for the batch slices (created on first use)."""
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lava-ternary-sim")
    return _POOL


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch's kernels on ``n`` intra-op threads (our threads already share out the CPUs); restore after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


@functools.lru_cache(maxsize=None)
def _netx_utils():
    """``lava.lib.dl.netx.utils`` (numpy and h5py only) loaded without its package, whose ``__init__`` imports
    slayer, torchvision and torch's compiler (seconds); a private copy, not entered in ``sys.modules``."""
    import importlib.util

    import lava_ternary  # noqa: F401  (Python 3.11 fix before lava)

    package = importlib.util.find_spec("lava.lib.dl.netx")
    path = os.path.join(package.submodule_search_locations[0], "utils.py")
    spec = importlib.util.spec_from_file_location("lava.lib.dl.netx.utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lava_dense_weights(weight: np.ndarray) -> Tuple[np.ndarray, int]:
    """The weights and exponent Lava's ``Dense`` computes with, from the file's weight mantissas.

    netx's loader passes the file weights through ``optimize_weight_bits`` (scale up, choose bits and
    exponent); Lava's ``Dense`` model then clips and truncates them. Both are lava functions, called here
    so that the simulator sees the very same integers.
    """
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    optimize_weight_bits = _netx_utils().optimize_weight_bits
    weight = np.asarray(weight, dtype=np.int64)
    if not weight.any():
        return np.zeros_like(weight), 0
    opt, num_bits, exp, _ = optimize_weight_bits(weight.astype(np.float64))
    opt = np.asarray(opt).astype(np.int64)
    mode = determine_sign_mode(opt)
    opt = truncate_weights(clip_weights(opt, mode, num_bits=8), mode, int(num_bits))
    return np.asarray(opt, dtype=np.int64), int(exp)


def lava_sparse_weights(weight: np.ndarray) -> np.ndarray:
    """The weights Lava's bit-accurate ``DelaySparse`` computes with (8-bit clip and truncation; exponent 0)."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    weight = np.asarray(weight, dtype=np.int64)
    if not weight.any():
        return weight
    mode = determine_sign_mode(weight)
    return np.asarray(truncate_weights(clip_weights(weight, mode, num_bits=8), mode, 8), dtype=np.int64)


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
    ternary = spec.is_ternary
    if not ternary and spec.type not in ("CUBA", "LOIHI"):
        raise NetxFormatError(path, layer.index, "neuron/type",
                              f"the simulator runs TERNARY, CUBA and LOIHI neurons, not {spec.type!r}")
    v_init = _per_channel(spec.v_init, shape) if ternary else np.zeros((), np.int64)
    i_decay, v_decay, vth, bias, v_init = _blocks(
        [_per_channel(p["iDecay"], shape), _per_channel(p["vDecay"], shape), _per_channel(p["vThMant"], shape),
         np.left_shift(bias, BIAS_EXP), v_init], shape)
    return SimNeuron(i_decay=i_decay, v_decay=v_decay, vth=vth, bias=bias, v_init=v_init,
                     soft_reset=spec.soft_reset if ternary else False, binary=spec.binary if ternary else True,
                     message_bits=spec.message_bits, restart=ternary, kind="TERNARY" if ternary else spec.type)


def _delayed(layer: SimLayer, acc: np.ndarray, lag: int) -> np.ndarray:
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


def _delay_of(spec, path: str) -> Optional[np.ndarray]:
    """The per-neuron delay of a layer the simulator can delay, None without delays; else NetxFormatError."""
    if spec.delay is None or not np.any(spec.delay != 0):
        return None
    size = int(np.prod(spec.shape))
    if spec.type != "dense" or not spec.neuron.is_ternary or spec.delay.size not in (1, size):
        raise NetxFormatError(path, spec.index, "delay", "the simulator delays TERNARY dense layers with one delay "
                              "per output neuron (netx ignores a conv layer's delay)")
    if np.any(spec.delay < 0):
        raise NetxFormatError(path, spec.index, "delay", f"negative delay {int(spec.delay.min())}")
    return np.broadcast_to(np.clip(spec.delay, 0, 62).reshape(-1), (size,)).astype(np.int64).copy()


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
        For layers the simulator cannot run (recurrent, conv delays, SDNN/RF neurons, neuron-less synapses).
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
        if spec.type not in ("input", "dense", "conv", "pool", "concat"):
            raise NetxFormatError(net.path, spec.index, "type", f"the simulator cannot run {spec.type!r} layers")
        if spec.neuron is None:
            raise NetxFormatError(net.path, spec.index, "neuron", "the simulator needs a neuron group on every "
                                                                   "synapse layer")
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
            layers.append(SimLayer(kind="dense", weight=weight, weight_exp=exp, delay=_delay_of(spec, net.path),
                                   **fields))
        else:
            _delay_of(spec, net.path)
            weight = spec.weight
            if spec.type == "pool":
                weight = np.broadcast_to(weight, (in_shape[0], 1) + weight.shape[2:]).copy()
            if spec.inputs is not None:
                source = net.layers[spec.inputs[1]]
                fields["shortcut"] = Shortcut(source=source.index, delay=spec.shortcut_delay, synapse=SimLayer(
                    index=spec.index, kind="conv", in_shape=tuple(int(s) for s in source.shape), out_shape=shape,
                    weight=lava_sparse_weights(spec.shortcut_weight), stride=spec.shortcut_stride,
                    neuron=fields["neuron"]).precompute())
            layers.append(SimLayer(kind="conv", weight=weight, stride=spec.stride, padding=spec.padding,
                                   dilation=spec.dilation, groups=spec.groups, **fields))
    if not any(l.neuron is not None for l in layers):
        raise NetxFormatError(net.path, None, "layer", "the network has no neuron layer to simulate")
    return [layer.precompute() for layer in layers]


predictions = readout.predictions  # the one readout (lava_ternary.readout)
