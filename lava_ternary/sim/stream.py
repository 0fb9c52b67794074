"""Neuron groups the simulator runs step by step: stock netx neurons, the neuron-less integrator, recurrence.

The fused loop of :mod:`lava_ternary.sim.kernel` runs TERNARY and CUBA groups whose input is known for all
steps in advance. Everything else runs here, one Lava step at a time with the bit-exact neurons of
:mod:`lava_ternary.sim.stock`, behind the same interface (``run``, ``message_bound``, ...):

* groups that restart every sample (TERNARY) run the batch rows side by side, ``T`` steps;
* groups that never restart (SDNN, RF) or restart at netx's staggered offsets (CUBA ``LIFReset``, the
  neuron-less integrator) run the rows as one stream, as Lava runs consecutive samples: row ``b``, window
  step ``t`` of a group with phase ``p`` is Lava step ``(b - pad)·T + t + 1 + p``; steps before the run
  starts are dead (no input, no output).

A ``dense_rec`` group adds its own messages of step ``t - 1`` through the recurrent weights (netx's
``RecurrentDense``; :func:`lava_ternary.sim.stock.run`). :class:`Readout` is netx's refused ``average``
layer: the previous layer's messages averaged per output group.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import numpy as np

from lava_ternary import fixed
from lava_ternary.errors import NetxFormatError
from lava_ternary.neuron_params import TernaryParams
from lava_ternary.sim import stock
from lava_ternary.sim.synapse import lagged

#: Makes a fresh neuron for ``(rows, N)`` given the sample length ``T`` and the group's phase.
NeuronFactory = Callable[[Tuple[int, int], int, int], stock.StockNeuron]


class TernaryNeuron(stock.StockNeuron):
    """:class:`lava_ternary.proc.TernaryCUBA` stepped on arrays (:func:`lava_ternary.fixed.neuron_step`): at every
    sample start (Lava step ``t`` with ``(t - 1) % T == 0``) it discards its input, restores ``(0, v_init)`` and
    sends 0."""

    traces = ("u", "v")

    def __init__(self, shape: Tuple[int, int], params: TernaryParams, bias: np.ndarray, v_init: np.ndarray,
                 reset_interval: int) -> None:
        super().__init__(shape, params.message_bits)
        self.params, self.bias, self.reset_interval = params, bias, reset_interval
        self.v_init = np.broadcast_to(v_init, shape).astype(np.int64)
        self.u = np.zeros(shape, np.int64)
        self.v = self.v_init.copy()

    def step(self, a_in: np.ndarray, time_step: int) -> np.ndarray:
        if (time_step - 1) % self.reset_interval == 0:
            self.u = np.zeros(self.shape, np.int64)
            self.v = self.v_init.copy()
            return np.zeros(self.shape, np.int64)
        self.u, self.v, s = fixed.neuron_step(self.u, self.v, a_in, bias=self.bias, **self.params.step_args())
        return s


@dataclass(frozen=True, eq=False)
class StreamGroup:
    """A neuron group run step by step (see the module doc).

    Parameters
    ----------
    make : callable
        ``make((rows, N), T, phase)``: a fresh :class:`lava_ternary.sim.stock.StockNeuron`.
    size : int
        Neurons of the group.
    message_bits : int
        Bits of its messages (0: consumers see ``messages != 0``).
    restart : bool
        True when every sample starts from the reset state (rows run side by side).
    kind : str
        Neuron type for tables (``'SDNN'``, ``'RF_IZ'``, ``'integrator'``, ...).
    record : str
        What the simulation records: ``'s'`` (the messages) or ``'v'`` (the voltage of a neuron-less readout).
    staggered : bool
        True for groups that restart at netx's per-layer reset offset (``LIFReset``: CUBA, the integrator).
    recurrent : np.ndarray or None
        ``(N, N)`` recurrent weights (``dense_rec``) as Lava computes with them, with ``recurrent_exp``,
        ``recurrent_bits`` (its ``num_message_bits``) and ``recurrent_delay`` (``(N, N)`` or None).
    """

    make: NeuronFactory
    size: int
    message_bits: int
    restart: bool
    kind: str
    record: str = "s"
    recurrent: Optional[np.ndarray] = None
    recurrent_exp: int = 0
    recurrent_bits: int = 0
    recurrent_delay: Optional[np.ndarray] = None
    binary: bool = False
    staggered: bool = False
    record_dtype = np.int32
    message_dtype = np.int64
    hop = 1

    def run(self, acc: np.ndarray, slot: np.ndarray, *, lag: int, phase: int, pad: int, rec: np.ndarray,
            nxt: np.ndarray) -> np.ndarray:
        """Run the group over the batch (``acc``/``slot``/``lag`` as for :func:`lava_ternary.sim.kernel.run_group`);
        write its record to ``rec``, its messages to ``nxt``; return the steps that sent something."""
        steps, rows = slot.shape[0], nxt.shape[1]
        full = np.zeros((steps, rows, acc.shape[2]), np.int64)
        used = slot >= 0
        full[used] = np.asarray(acc)[slot[used]].astype(np.int64)
        if self.restart:  # every row a sample from the reset state: the rows side by side
            a = lagged(full, lag)
            trace = self._trace(self.make((rows, self.size), steps, phase), a, 1)
            record, sent = trace[self.record], trace.s
        else:  # one stream of consecutive samples, as Lava runs them
            stream = lagged(full.transpose(1, 0, 2).reshape(rows * steps, 1, -1), lag)
            first = max(0, pad * steps - 1 - phase)  # Lava step of stream position s: s - pad*T + 1 + phase
            trace = self._trace(self.make((1, self.size), steps, phase), stream[first:], first - pad * steps + 1 + phase)
            record, sent = (_unstream(trace[key], first, rows, steps) for key in (self.record, "s"))
        if rec.size:
            rec[:] = np.moveaxis(record[:, pad:pad + rec.shape[0]], 0, 1)
        nxt[:] = sent if self.message_bits > 0 else sent != 0
        return np.any(nxt != 0, axis=(1, 2))

    @property
    def records_messages(self) -> bool:
        """True when the recorded output is what the group sends (not a readout's voltage)."""
        return self.record == "s"

    def _trace(self, neuron: stock.StockNeuron, a: np.ndarray, start_step: int) -> stock.Trace:
        parts = (a[..., :self.size], a[..., self.size:]) if neuron.inputs == 2 else a
        return stock.run(neuron, parts, recurrent=self.recurrent, weight_exp=self.recurrent_exp,
                         recurrent_message_bits=self.recurrent_bits, recurrent_delay=self.recurrent_delay,
                         start_step=start_step)

    def message_bound(self, nxt: np.ndarray) -> float:
        """Largest ``|message|`` the group sent."""
        return float(np.abs(nxt).max(initial=0))


@dataclass(frozen=True, eq=False)
class Readout:
    """netx's ``average`` layer (refused by netx, so not a Lava layer): the mean of each group of ``N_in / K``
    consecutive messages of the previous layer, every step (slayer's ``Average``; float64)."""

    outputs: int
    kind: str = "average"
    restart: bool = True
    binary: bool = False
    staggered: bool = False
    message_bits: int = 32
    record_dtype = np.float64
    message_dtype = np.float64
    hop = 0

    def run(self, acc: np.ndarray, slot: np.ndarray, *, lag: int, phase: int, pad: int, rec: np.ndarray,
            nxt: np.ndarray) -> np.ndarray:
        means = stock.average_readout(np.asarray(acc, np.float64), self.outputs)
        if rec.size:
            rec[:] = np.moveaxis(means[:, pad:pad + rec.shape[0]], 0, 1)
        nxt[:] = means
        return np.any(means != 0, axis=(1, 2))

    def message_bound(self, nxt: np.ndarray) -> float:
        return float(np.abs(nxt).max(initial=0))

    records_messages = True


def _unstream(values: np.ndarray, first: int, rows: int, steps: int) -> np.ndarray:
    """A stream trace ``[S - first, 1, N]`` back to time-major ``[T, rows, N]`` (dead steps 0)."""
    out = np.zeros((rows * steps, values.shape[-1]), values.dtype)
    out[first:] = values[:, 0]
    return np.ascontiguousarray(out.reshape(rows, steps, -1).transpose(1, 0, 2))


def _flat(value: Any, shape: Tuple[int, ...]) -> np.ndarray:
    """A scalar, per-channel or per-neuron value as one int64 per neuron (torch order)."""
    from lava_ternary.sim.layers import per_channel

    return np.broadcast_to(per_channel(0 if value is None else value, shape), shape).reshape(-1).astype(np.int64)


def stream_group(spec, path: str) -> StreamGroup:
    """The step-by-step group of a layer whose neuron the fused loop does not run: SDNN, RF, none (integrator)."""
    shape = tuple(int(s) for s in spec.shape)
    params = None if spec.neuron is None else spec.neuron.params
    input_layer = spec.type == "input"
    bias = np.zeros(int(np.prod(shape)), np.int64) if input_layer or spec.weight_imag is not None \
        else _flat(spec.bias, shape)
    if params is not None and params["type"] not in ("SDNN",) and not spec.neuron.is_rf:
        raise NetxFormatError(path, spec.index, "neuron/type", f"the simulator has no neuron {params['type']!r}")
    if params is not None and spec.neuron.is_rf and input_layer:
        raise NetxFormatError(path, spec.index, "neuron/type", "an RF neuron on an input layer (netx cannot build "
                                                               "it: RF has no a_in)")

    def make(rows_n: Tuple[int, int], steps: int, phase: int) -> stock.StockNeuron:
        return stock.neuron_for(params, rows_n, input_layer=input_layer, bias=bias, reset_interval=steps,
                                reset_offset=stock.reset_offset(phase))

    if params is None:
        kind = "integrator"
    elif spec.neuron.is_rf:
        kind = "RF" if "PHASE" in params["type"] else "RF_IZ"
    else:
        kind = "SDNN sigma" if "sigma_output" in params else "SDNN"
    return StreamGroup(make=make, size=int(np.prod(shape)), message_bits=stock.message_bits(params),
                       restart=False, kind=kind, record="v" if params is None else "s", staggered=params is None)


def recurrent(layer, spec, net) -> StreamGroup:
    """The step-by-step group of a ``dense_rec`` layer: its neuron plus netx's recurrent synapse.

    netx optimises ``weight`` and ``weight_rec`` jointly (one exponent; none at all when the layer has delays).
    """
    (_, weight_rec), exp, _ = stock.lava_weights(spec.weight, spec.weight_rec)
    delay = None
    if spec.delay is not None and np.any(spec.delay != 0):
        delay, exp = stock.netx_delays(spec.delay, spec.weight.shape), 0
    # stock netx gives the recurrent synapse the layer's *input* message bits (lava-dl #372); our Network gives a
    # TERNARY layer's its own bits (a signed spike needs 2)
    bits = spec.neuron.ternary.message_bits if spec.is_ternary else _input_bits(spec, net)
    if spec.neuron is None or not spec.neuron.is_ternary:
        group = stream_group(spec, net.path) if spec.neuron is None or spec.neuron.type == "SDNN" else \
            _cuba_group(spec)
    else:
        group = _ternary_group(spec)
    return dataclasses.replace(group, recurrent=weight_rec, recurrent_exp=exp, recurrent_bits=bits,
                               recurrent_delay=delay)


#: ``recurrent_bits`` placeholder for "the network input's message bits" (set by :func:`lava_ternary.sim.simulate`).
INPUT_BITS = -1


def _input_bits(spec, net) -> int:
    """Message bits of what the layer receives: the previous neuron group's, or -1 for the network input."""
    for prev in reversed(net.layers[:spec.index]):
        if prev.neuron is not None:
            return stock.message_bits(prev.neuron.params) if not prev.is_ternary else prev.neuron.ternary.message_bits
    return INPUT_BITS


def _cuba_group(spec) -> StreamGroup:
    params, shape = spec.neuron.params, tuple(int(s) for s in spec.shape)
    bias = _flat(spec.bias, shape)

    def make(rows_n, steps, phase):
        return stock.CubaNeuron(rows_n, params, bias=bias, reset_interval=steps,
                                reset_offset=stock.reset_offset(phase))

    return StreamGroup(make=make, size=int(np.prod(shape)), message_bits=stock.message_bits(params), restart=False,
                       kind=spec.neuron.type, binary=True, staggered=True)


def _ternary_group(spec) -> StreamGroup:
    params: TernaryParams = spec.neuron.ternary
    shape = tuple(int(s) for s in spec.shape)
    bias = _flat(spec.bias, shape) << fixed.ACT_SHIFT
    v_init = _flat(params.v_init, shape)

    def make(rows_n, steps, phase):
        return TernaryNeuron(rows_n, params, bias, v_init, steps)

    return StreamGroup(make=make, size=int(np.prod(shape)), message_bits=params.message_bits, restart=True,
                       kind="TERNARY", binary=params.binary)
