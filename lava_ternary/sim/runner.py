"""Run a batch through the compiled layers: the simulator's schedule of synapse products and neuron loops.

Each layer's synaptic input is computed for all steps at once by its kind (:mod:`lava_ternary.kinds`,
through :class:`LayerInput`), then its neuron group runs over the whole batch in one compiled loop
(:func:`lava_ternary.sim.kernel.run_group`). Producer steps that send nothing at all, or that no consumer
step reads (a TERNARY layer's reset step discards its input), are not multiplied. TERNARY samples are
independent, so slices of a batch run on threads.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from lava_ternary.sim.layers import SimLayer, with_input_bias
from lava_ternary.sim.schedule import Timing, default_timing, frames
from lava_ternary.sim.synapse import CHANNEL_BITS, EXACT_FLOAT32, delayed, lagged, receive, shifted, signed_wrap

log = logging.getLogger(__name__)

#: Synaptic inputs from here on may wrap in Lava's stock LIF (int32 shift) where the simulator does not.
STOCK_EXACT_INPUT = 2 ** 24
#: Neuron steps per simulator thread: smaller batches run on one thread (a hand-off costs more).
PARALLEL_STEPS = 1 << 16
#: Largest message buffer a thread keeps between calls (bytes).
SCRATCH_BYTES = 32 << 20

_POOL: Optional[ThreadPoolExecutor] = None


@dataclass
class SimResult:
    """Output of every simulated layer, ``[batch, *shape, T]`` torch order (spikes as int8, graded messages as the
    group's record dtype); ``layers[i]`` describes ``spikes[i]``."""

    layers: List[SimLayer]
    spikes: List[np.ndarray] = field(default_factory=list)

    @property
    def output(self) -> np.ndarray:
        """Spikes of the last layer."""
        return self.spikes[-1]


@dataclass
class LayerInput:
    """What a layer's synapse reads: the previous layer's time-major messages and the kept messages of shortcut
    sources. The kinds call one of its methods to turn them into ``(acc, slot, lag)`` for the neuron loop."""

    msgs: np.ndarray
    in_max: float
    lag: int
    active: np.ndarray
    alias: Sequence[int]
    kept: Dict[int, Tuple[np.ndarray, float]]

    @property
    def every_step(self) -> np.ndarray:
        return np.arange(self.msgs.shape[0], dtype=np.int64)

    def framed(self, layer: SimLayer) -> Tuple[np.ndarray, np.ndarray, int]:
        """Multiply only the producer steps that are read (and each repeated step once)."""
        chosen, slot = frames(layer.neuron.restart, self.lag, self.active, self.alias)
        return receive(layer, self.msgs[chosen], self.in_max), slot, self.lag

    def delayed(self, layer: SimLayer) -> Tuple[np.ndarray, np.ndarray, int]:
        """Axonal delays per output neuron (:func:`lava_ternary.sim.synapse.delayed`), read with lag 0."""
        return delayed(layer, receive(layer, self.msgs, self.in_max), self.lag), self.every_step, 0

    def direct(self, layer: SimLayer) -> Tuple[np.ndarray, np.ndarray, int]:
        """The previous layer's messages themselves (a readout without synapse), read with lag 0."""
        return self.msgs, self.every_step, 0

    def complex(self, layer: SimLayer) -> Tuple[np.ndarray, np.ndarray, int]:
        """A complex (RF) dense layer: the real and the imaginary synapse side by side, ``[T, B, 2N]``."""
        parts = [receive(part, self.msgs, self.in_max).astype(np.int64) for part in (layer, layer.imag)]
        return np.concatenate(parts, axis=2), self.every_step, self.lag

    def stream_delayed(self, layer: SimLayer) -> Tuple[np.ndarray, np.ndarray, int]:
        """Lava's ``DelayDense`` over the sample stream (:func:`lava_ternary.sim.stock.dense_synapse`: one hop plus
        each synapse's delay, carrying over from sample to sample), read with lag 0."""
        from lava_ternary.sim.stock import dense_synapse

        steps, rows = self.msgs.shape[:2]
        stream = np.asarray(self.msgs).transpose(1, 0, 2).reshape(rows * steps, 1, -1)
        # the messages are already what the synapse sees (cast to bool upstream where Lava casts)
        got = dense_synapse(stream, layer.weight, layer.weight_exp, message_bits=32, delay=_per_synapse(layer))
        got = lagged(got[:, 0], self.lag - 1)
        return np.ascontiguousarray(got.reshape(rows, steps, -1).transpose(1, 0, 2)), self.every_step, 0

    def graph(self, layer: SimLayer) -> Tuple[np.ndarray, np.ndarray, int]:
        """A ``concat`` layer: main and shortcut synapse summed into one neuron group, read with lag 0.

        Both synapse groups feed one neuron group, as Lava's InPort sums its OutPorts: the main synapse reads
        the previous layer ``lag`` steps back, the shortcut its source ``lag + delay`` steps back, and window
        steps ``1 .. delay`` are discarded (the previous sample's messages still in the delayed synapse).
        """
        sc = layer.shortcut
        source, source_max = self.kept[sc.source]
        main = receive(layer, self.msgs, self.in_max)
        side = receive(sc.synapse, source, source_max)
        total = shifted(main, self.lag, sc.delay) + shifted(side, self.lag + sc.delay, sc.delay)
        return signed_wrap(total, CHANNEL_BITS), self.every_step, 0


def _per_synapse(layer: SimLayer) -> np.ndarray:
    """A stock dense layer's delays as one per synapse ``(N, N_in)``."""
    delay = layer.synapse_delay
    return np.repeat(delay[:, None], layer.weight.shape[1], axis=1) if delay.ndim == 1 else delay


def _resolve_input_bits(layers: Sequence[SimLayer], bits: int) -> List[SimLayer]:
    """Recurrent synapses fed by the network input take its message bits (netx's #372 wiring)."""
    from lava_ternary.sim.stream import INPUT_BITS

    out = []
    for layer in layers:
        if getattr(layer.neuron, "recurrent_bits", None) == INPUT_BITS:
            layer = dataclasses.replace(layer, neuron=dataclasses.replace(layer.neuron, recurrent_bits=max(bits, 0)))
        out.append(layer)
    return out


def simulate(layers: Sequence[SimLayer], x: np.ndarray, *, input_message_bits: int = 0,
             timing: Optional[Timing] = None, record: str = "all",
             input_bias: Optional[np.ndarray] = None) -> SimResult:
    """Simulate a batch through the layers; return the spikes of every neuron layer.

    Parameters
    ----------
    layers : sequence of SimLayer
        The network, as :func:`lava_ternary.sim.compile_network` builds it from a netx file.
    x : np.ndarray
        Integer input ``[batch, *input_shape, T]`` (torch order), one sample per batch row. The rows are
        the consecutive samples of one Lava run that starts at step 1 and is followed by zero input. For
        networks of TERNARY layers the samples are independent: slices of the batch run on threads, and
        meanwhile torch's intra-op thread count is 1 (restored after). A stock ``LIFReset`` layer, whose
        window is shifted by its netx reset offset, also sees its neighbours (exactly as in Lava).
    input_message_bits : int
        Message bits of the input (0: a first synapse sees ``x != 0``, as Lava with binary input). An input
        neuron group receives ``x`` unchanged whatever the bits (Lava connects the source to its ``a_in``).
    timing : Timing or None
        Per-layer window phase and lag; the default is :func:`lava_ternary.sim.default_timing`.
    record : str
        ``'all'`` keeps every layer's spikes, ``'last'`` only the output layer's.
    input_bias : np.ndarray, optional
        Bias mantissas of the input neuron group (scalar, per channel or per neuron, torch order), the way
        lava-dl's tests drive a network (:func:`lava_ternary.sim.layers.with_input_bias`).
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
    if input_bias is not None:
        layers = with_input_bias(layers, input_bias)
    layers = _resolve_input_bits(layers, input_message_bits)
    timing = timing or default_timing(layers)
    batch, steps = x.shape[0], x.shape[-1]
    x3 = np.ascontiguousarray(x.reshape((batch, int(np.prod(expected)), steps)), dtype=np.int64)
    neuron_layers = [l for l in layers if l.neuron is not None]
    kept = [l for l in neuron_layers if record == "all" or l is neuron_layers[-1]]
    recs = [np.empty((batch, steps, l.num_neurons), l.neuron.record_dtype) for l in kept]
    # Lava casts unary input messages to bool on a synapse; an input neuron group integrates them as they are
    binary = input_message_bits <= 0 and not (layers[0].type == "input" and layers[0].neuron is not None)
    run = functools.partial(_run_layers, layers, timing, kept, binary)
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

    The outputs of the ``kept`` layers are written to ``recs`` (``[B, T, N]``).
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
    sources = {layer.shortcut.source for layer in layers if layer.shortcut is not None}
    kept_msgs: Dict[int, Tuple[np.ndarray, float]] = {}
    for layer, lag, phase in zip(layers, timing.lag, timing.phase):
        if layer.neuron is None:  # a reshape: the messages stay as they are
            continue
        acc, slot, lag = layer.kind.synaptic_input(layer, LayerInput(msgs, in_max, lag, active, alias, kept_msgs))
        if not layer.neuron.restart and acc.size and np.abs(acc).max() >= STOCK_EXACT_INPUT:
            log.warning("layer %d: synaptic input %d reaches 2**24; Lava's stock LIF shifts it in int32 and may "
                        "wrap where this simulator does not", layer.index, int(np.abs(acc).max()))
        rec = recs[kept.index(layer)] if layer in kept else \
            np.zeros((0, steps, layer.num_neurons), layer.neuron.record_dtype)
        msgs = _scratch(layer.index, (steps, msgs.shape[1], layer.num_neurons), layer.neuron.message_dtype)
        active = layer.neuron.run(acc, slot, lag=lag, phase=phase, pad=pad, rec=rec, nxt=msgs)
        in_max, alias = layer.neuron.message_bound(msgs), range(steps)
        if layer.index in sources:
            kept_msgs[layer.index] = (msgs, in_max)


class _Scratch(threading.local):
    """Per-thread reusable float32 message buffers: fresh multi-MB arrays cost page faults on every call."""

    def __init__(self) -> None:
        self.buffers: Dict[int, np.ndarray] = {}


_SCRATCH = _Scratch()


def _scratch(key: int, shape: Tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """An uninitialised array of ``shape`` for this thread, reused across calls up to :data:`SCRATCH_BYTES`."""
    size = int(np.prod(shape))
    buf = _SCRATCH.buffers.get(key)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = np.empty(size, dtype)
        if buf.nbytes <= SCRATCH_BYTES:
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
