"""Stock netx layer kinds over a whole run, bit-exact with Lava ``fixed_pt`` (``Loihi2SimCfg(select_tag='fixed_pt')``).

Every function is batched and time-major: messages and inputs are ``[T, B, N]`` integer arrays, index
``t`` holding Lava time step ``t + 1``. The integers are those of the Lava process models that
``lava.lib.dl.netx.hdf5.Network`` builds (lava-nc 0.10, lava-dl 0.6), including their ``int32``
wrap-arounds; ``docs/netx_kinds.md`` states the rules and the timing of each kind.

Synapses (:func:`dense_synapse`) turn the messages a layer *sent* into what the next neuron group
*receives*: Lava's ``Dense``/``Sparse`` buffer one step (``a[t] = W m[t-1]``), ``DelayDense``/``DelaySparse``
``1 + delay`` steps. Neurons (:class:`CubaNeuron`, :class:`SigmaDeltaNeuron`, :class:`SigmaNeuron`,
:class:`DeltaNeuron`, :class:`RFNeuron`) turn what they receive in step ``t`` into what they send in the
same step; :func:`run` drives one over a run, with an optional recurrent synapse (netx ``dense_rec``).
:func:`neuron_for` picks the process and parameters exactly as netx's ``get_neuron_params`` does, from a
neuron group's values (``lava_ternary.netfile.NeuronSpec.params``; ``None`` for a neuron-less dense layer).

numpy (exact products through :mod:`lava_ternary.sim.synapse`, as the rest of the simulator); lava is
imported only by the weight helpers (:func:`lava_weights`), which call lava's own
``optimize_weight_bits``/``clip_weights``/``truncate_weights`` so that the integers are the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from lava_ternary import fixed
from lava_ternary.sim.layers import _netx_utils
from lava_ternary.sim.synapse import exact_dtype, floor_shift, matmul, signed_wrap

#: netx ``Network(spike_exp=...)`` default: fractional bits of a graded SDNN message.
SPIKE_EXP = 6
#: netx's ``state_exp`` of SDNN and RF neurons (fixed in ``get_neuron_params``).
STATE_EXP = 6
#: netx's ``decay_bits`` of RF neurons.
RF_DECAY_BITS = 12
#: Lava's ``Dense`` output and every neuron port are ``int32`` channels.
CHANNEL_BITS = 32
#: netx clips axonal delays to this (``max_delay=62`` of ``DelayDense``/``DelaySparse``).
MAX_DELAY = 62
#: The neuron group netx gives a ``dense`` layer without one (``create_dense``): a non-leaky current integrator.
#: ``1 << 18 - 1`` in netx is ``1 << 17`` (operator precedence): ``v`` saturates at ``2**23 - 1`` below the
#: effective threshold ``2**23``, so the layer never spikes; its value is the voltage.
DEFAULT_NEURON = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17, "refDelay": 1, "gradedSpike": False}


def _i32(x: np.ndarray) -> np.ndarray:
    """Two's-complement ``int32`` view of integer values (what an ``int32`` channel or Var holds)."""
    return signed_wrap(np.asarray(x, dtype=np.int64), CHANNEL_BITS).astype(np.int32)


# ---------------------------------------------------------------------------------------------- synapses
def lava_weights(*weights: np.ndarray) -> Tuple[Tuple[np.ndarray, ...], int, int]:
    """The integer weights Lava's ``Dense``-family synapses compute with, as netx builds them.

    netx runs ``optimize_weight_bits`` on the file's weight (on ``hstack((weight, weight_rec))`` for
    ``dense_rec``, jointly: one exponent), then each synapse model clips and truncates its own matrix with its
    own sign mode (netx never forwards the sign mode it computed). Complex layers (``weight/real``,
    ``weight/imag``) are optimised separately: call this once per part.

    Parameters
    ----------
    *weights : np.ndarray
        ``(out, in)`` weight mantissas of the file; several are optimised together (``dense_rec``).

    Returns
    -------
    parts : tuple of np.ndarray
        int64 weights, one per argument.
    weight_exp : int
        The exponent the synapse shifts its accumulation by.
    num_weight_bits : int
        The weight bits netx chose (informative).
    """
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    mats = [np.asarray(w, dtype=np.int64) for w in weights]
    joint = np.hstack(mats)
    if not joint.any():  # netx raises OverflowError on all-zero weights; nothing flows either way
        return tuple(np.zeros_like(m) for m in mats), 0, 8
    opt, num_bits, exp, _ = _netx_utils().optimize_weight_bits(joint.astype(np.float64))
    opt = np.asarray(opt).astype(np.int64)
    parts, start = [], 0
    for m in mats:
        part = opt[:, start:start + m.shape[1]]
        start += m.shape[1]
        if part.any():
            mode = determine_sign_mode(part)
            part = truncate_weights(clip_weights(part, mode, num_bits=8), mode, int(num_bits))
        parts.append(np.asarray(part, dtype=np.int64))
    return tuple(parts), int(exp), int(num_bits)


def netx_delays(delay: Any, weight_shape: Tuple[int, int]) -> np.ndarray:
    """A file's ``delay`` expanded to one delay per synapse ``(out, in)``, as netx's ``create_dense`` does.

    Values are clipped to ``0..62``; a scalar is broadcast; a vector of ``out`` values is one delay per
    output neuron (rows), checked *before* a vector of ``in`` values (columns, "input delays"), so a square
    layer's vector is always per output.
    """
    d = np.clip(np.asarray(delay), 0, MAX_DELAY).astype(np.int64)
    out, inp = weight_shape
    if d.ndim == 0 or d.size == 1:
        return np.full(weight_shape, int(d.reshape(-1)[0]), np.int64)
    if d.ndim == 1 and d.size == out:
        return np.repeat(d.reshape(-1, 1), inp, axis=1)
    if d.ndim == 1 and d.size == inp:
        return np.repeat(d.reshape(1, -1), out, axis=0)
    if d.shape == tuple(weight_shape):
        return d
    raise ValueError(f"delay of shape {d.shape} fits neither the weight {weight_shape} nor one of its axes")


def _exact_product(m: np.ndarray, w: np.ndarray):
    """``a @ b.T`` over the last axis, exactly: in the cheapest precision the bound on ``m`` and ``w`` allows
    (:func:`lava_ternary.sim.synapse.exact_dtype`), int64 beyond ``2**53``."""
    bound = float(np.abs(m).max(initial=0)) * float(np.abs(w).sum(axis=1).max(initial=0))
    dtype = exact_dtype(bound)

    def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        flat = a.reshape(-1, a.shape[-1])
        if dtype is np.int64:
            res = flat @ b.T
        else:
            res = matmul(np.ascontiguousarray(flat, dtype=dtype), np.ascontiguousarray(b.T, dtype=dtype))
        return res.astype(np.int64).reshape(a.shape[:-1] + (b.shape[0],))
    return product


def dense_synapse(messages: np.ndarray, weight: np.ndarray, weight_exp: int = 0, *, message_bits: int,
                  delay: Optional[np.ndarray] = None) -> np.ndarray:
    """What a neuron group receives from a ``Dense``/``Sparse`` (or ``DelayDense``/``DelaySparse``) synapse.

    Parameters
    ----------
    messages : np.ndarray
        ``[T, B, N_in]`` messages the producer sent in steps ``1..T``.
    weight : np.ndarray
        ``(N_out, N_in)`` weights as Lava computes with them (:func:`lava_weights`).
    weight_exp : int
        Exponent of the synapse (``<<`` for positive, ``>>`` (a floor) for negative).
    message_bits : int
        ``num_message_bits`` of the synapse (netx: the producer's ``output_message_bits``): 0 makes Lava cast
        the messages to bool (a -1 counts as +1, a graded value as 1).
    delay : np.ndarray, optional
        ``(N_out, N_in)`` synaptic delays (:func:`netx_delays`); None for a plain ``Dense``.

    Returns
    -------
    np.ndarray
        ``[T, B, N_out]`` int64: step ``t`` receives ``Σ_k shift(W_k m[t - 1 - k])`` where ``W_k`` keeps the
        weights of delay ``k`` (0 before the first message arrives), wrapped to ``int32``. The graded
        ``Dense`` wraps its ``int32`` dot product before the shift; the bool path and the delayed synapses
        sum in int64 (exact up to ``2**63``).
    """
    m = np.asarray(messages)
    m = (m != 0).astype(np.int64) if message_bits == 0 else m.astype(np.int64)
    steps = m.shape[0]
    w = np.asarray(weight, dtype=np.int64)
    out = np.zeros(m.shape[:2] + (w.shape[0],), np.int64)
    product = _exact_product(m, w)
    if delay is None:
        acc = product(m, w)
        if message_bits:
            acc = signed_wrap(acc, CHANNEL_BITS)
        out[1:] = floor_shift(acc, weight_exp)[:-1]
        return signed_wrap(out, CHANNEL_BITS)
    d = np.where(w != 0, np.asarray(delay, dtype=np.int64), -1)  # -1: no synapse
    rows = d.max(axis=1)
    if np.all((d == rows[:, None]) | (d < 0)):  # one delay per output neuron (slayer's axonal delay): one product
        shifted = floor_shift(product(m, w), weight_exp)
        for k in np.unique(rows[rows >= 0]):
            lag, sel = 1 + int(k), rows == k
            out[lag:, :, sel] += shifted[:max(steps - lag, 0), :, sel]
        return signed_wrap(out, CHANNEL_BITS)
    for k in np.unique(d[d >= 0]):
        lag = 1 + int(k)
        if lag < steps:
            out[lag:] += floor_shift(product(m[:steps - lag], np.where(d == k, w, 0)), weight_exp)
    return signed_wrap(out, CHANNEL_BITS)


# ---------------------------------------------------------------------------------------------- neurons
class StockNeuron:
    """A Lava neuron process over a batch: ``step`` takes what it receives in one step, returns what it sends.

    Attributes
    ----------
    shape : tuple of int
        ``(B, N)``.
    message_bits : int
        ``output_message_bits`` netx gives the block (what the next synapse's ``num_message_bits`` becomes).
    traces : tuple of str
        Names of the state arrays :func:`run` records after every step (besides ``'s'``).
    inputs : int
        Number of input ports (2 for RF neurons: real and imaginary).
    """

    traces: Tuple[str, ...] = ()
    inputs = 1

    def __init__(self, shape: Tuple[int, int], message_bits: int) -> None:
        self.shape = tuple(shape)
        self.message_bits = int(message_bits)

    def step(self, a_in: np.ndarray, time_step: int) -> np.ndarray:
        """Advance one step (``time_step`` counts from 1 as Lava's); return the ``[B, N]`` int64 messages."""
        raise NotImplementedError


class CubaNeuron(StockNeuron):
    """Lava ``LIF`` / ``LIFReset`` (``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``) with netx's parameters.

    ``u = wrap24(decay(u, iDecay) + (a << 6))``, ``v = sat24(decay(v, vDecay) + u + (bias << 6))``, spike
    ``v > vThMant << 6`` (a 0/1 message; ``messageBits`` does not make it graded), ``v = 0`` after a spike.
    With ``reset_interval`` R (``LIFReset``): in steps ``t`` with ``t % R == reset_offset % R``, ``u`` and
    ``v`` are zeroed *before* the step, whose input is still integrated.
    """

    traces = ("u", "v")

    def __init__(self, shape: Tuple[int, int], params: Mapping[str, Any], *, bias: Any = 0,
                 reset_interval: Optional[int] = None, reset_offset: int = 0) -> None:
        super().__init__(shape, int(params.get("messageBits", 0)))
        self.i_decay = np.asarray(params["iDecay"], np.int64)  # one value, or one per neuron
        self.v_decay = np.asarray(params["vDecay"], np.int64)
        self.vth = int(params["vThMant"])
        self.bias = np.left_shift(np.asarray(bias, np.int64), fixed.VTH_SHIFT)
        self.reset_interval = reset_interval
        self.reset_offset = 0 if reset_interval is None else reset_offset % reset_interval
        self.u = np.zeros(self.shape, np.int64)
        self.v = np.zeros(self.shape, np.int64)

    def step(self, a_in: np.ndarray, time_step: int) -> np.ndarray:
        if self.reset_interval is not None and time_step % self.reset_interval == self.reset_offset:
            self.u[:] = 0
            self.v[:] = 0
        a = signed_wrap(np.asarray(a_in, np.int64) << fixed.ACT_SHIFT, CHANNEL_BITS)  # int32 shift in Lava
        self.u = fixed.wrap_current(signed_wrap(fixed.decay(self.u, self.i_decay) + a, CHANNEL_BITS))
        self.v = fixed.saturate_voltage(fixed.decay(self.v, self.v_decay) + self.u + self.bias)
        s = fixed.spike(self.v, fixed.effective_threshold(self.vth), binary=True)
        self.v = fixed.reset_voltage(self.v, s, 0)
        return s


class SigmaDeltaNeuron(StockNeuron):
    """Lava ``SigmaDelta`` (``PySigmaDeltaModelFixed``, RELU, no cumulative error), netx's ``SDNN`` neuron.

    All state is ``int32`` (and wraps as Lava's): ``sigma += a``; ``act = max(sigma + bias·2^(se+6), 0)``;
    ``delta = act - act_prev + residue``; ``s = delta`` where ``|delta| >= vThMant·2^(se+6)``, else 0;
    ``residue = delta - s``; the message is ``s >> 6`` (a floor), ``se = spike_exp``.
    """

    traces = ("sigma", "act", "residue")

    def __init__(self, shape: Tuple[int, int], params: Mapping[str, Any], *, bias: Any = 0,
                 spike_exp: int = SPIKE_EXP) -> None:
        super().__init__(shape, int(params.get("messageBits", 16)))
        scale = 1 << (spike_exp + STATE_EXP)
        self.vth = _i32(int(params["vThMant"]) * scale)
        self.bias = _i32(np.broadcast_to(np.asarray(bias, np.int64), self.shape[1:]).astype(np.int32)
                         .astype(np.int64) * scale)
        self.sigma = np.zeros(self.shape, np.int32)
        self.act = np.zeros(self.shape, np.int32)
        self.residue = np.zeros(self.shape, np.int32)

    def _delta(self, act: np.ndarray) -> np.ndarray:
        delta = act - self.act + self.residue
        s = np.where(np.abs(delta) >= self.vth, delta, np.int32(0))
        self.residue = delta - s
        self.act = act
        return np.right_shift(s, np.int32(STATE_EXP)).astype(np.int64)

    def step(self, a_in: np.ndarray, time_step: int) -> np.ndarray:
        self.sigma = self.sigma + _i32(a_in)
        return self._delta(np.maximum(self.sigma + self.bias, np.int32(0)))


class DeltaNeuron(SigmaDeltaNeuron):
    """Lava ``Delta`` (``PyDeltaModelFixed``), netx's ``SDNN`` neuron of an ``input`` layer (no bias, no sigma).

    ``act = a << (spike_exp + 6)`` (``int32``), then the delta encoding of :class:`SigmaDeltaNeuron`.
    """

    traces = ("act", "residue")

    def __init__(self, shape: Tuple[int, int], params: Mapping[str, Any], *, spike_exp: int = SPIKE_EXP) -> None:
        super().__init__(shape, params, spike_exp=spike_exp)
        self.shift = np.int32(spike_exp + STATE_EXP)

    def step(self, a_in: np.ndarray, time_step: int) -> np.ndarray:
        return self._delta(np.left_shift(_i32(a_in), self.shift))


class SigmaNeuron(StockNeuron):
    """Lava ``Sigma`` (``PySigmaModelFixed``), netx's ``SDNN`` neuron with ``sigma_output``: sends ``sigma += a``."""

    traces = ("sigma",)

    def __init__(self, shape: Tuple[int, int], params: Mapping[str, Any]) -> None:
        super().__init__(shape, int(params.get("messageBits", 16)))
        self.sigma = np.zeros(self.shape, np.int32)

    def step(self, a_in: np.ndarray, time_step: int) -> np.ndarray:
        self.sigma = self.sigma + _i32(a_in)
        return self.sigma.astype(np.int64)


def rf_constants(params: Mapping[str, Any]) -> Tuple[int, int, int]:
    """``(sin_decay, cos_decay, vth)`` as Lava's ``RF`` holds them after netx's float round trip.

    netx turns ``sinDecay``/``cosDecay`` into ``period`` and ``alpha`` (slayer's ``rf.neuron_params``) and
    ``RF.__init__`` turns them back: ``int32((1 - alpha)·sin(2π/period)·4096)`` (truncated toward zero, so a
    file's value can come back one lower); ``vth = int(vThMant · 64)``.
    """
    sin = params["sinDecay"] / 4096
    cos = params["cosDecay"] / 4096
    alpha = 1 - np.sqrt(sin ** 2 + cos ** 2)
    period = 1 / (np.arctan2(sin, cos) / 2 / np.pi)
    sin_decay = np.int32((1 - alpha) * np.sin(np.pi * 2 * 1 / period) * (1 << RF_DECAY_BITS))
    cos_decay = np.int32((1 - alpha) * np.cos(np.pi * 2 * 1 / period) * (1 << RF_DECAY_BITS))
    return int(sin_decay), int(cos_decay), int(params["vThMant"] * (1 << STATE_EXP))


class RFNeuron(StockNeuron):
    """Lava ``RF`` (phase spikes, ``PyRFModelFixed``) or ``RF_IZ`` (``PyRF_IZModelFixed``), netx's ``*RF*`` types.

    Inputs (real, imaginary) are shifted ``<< 6`` in ``int32``; with ``d(x) = sign(x)·(|x| >> 12)``:
    ``re' = d(cos·re) - d(sin·im) + a_re``, ``im' = d(sin·re) + d(cos·im) + a_im``, both clipped to
    ``±(2**23 - 1)``. ``RF``: spike ``re' >= vth and im' >= 0 and im < 0``. ``RF_IZ``: spike ``im' >= vth``,
    then ``re' = 0`` and ``im' = vth - 1`` where it spiked. Messages are 0/1; netx gives the block 0
    message bits.
    """

    traces = ("real", "imag")
    inputs = 2

    def __init__(self, shape: Tuple[int, int], params: Mapping[str, Any], *, izhikevich: bool) -> None:
        super().__init__(shape, 0)
        self.sin, self.cos, self.vth = rf_constants(params)
        self.izhikevich = izhikevich
        self.limit = (1 << (2 * 12 - 1)) - 1
        self.real = np.zeros(self.shape, np.int64)
        self.imag = np.zeros(self.shape, np.int64)

    @staticmethod
    def _scale(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.right_shift(np.abs(x), RF_DECAY_BITS)

    def step(self, a_in: Tuple[np.ndarray, np.ndarray], time_step: int) -> np.ndarray:
        a_re = np.left_shift(_i32(a_in[0]), np.int32(STATE_EXP)).astype(np.int64)
        a_im = np.left_shift(_i32(a_in[1]), np.int32(STATE_EXP)).astype(np.int64)
        re = self._scale(self.cos * self.real) - self._scale(self.sin * self.imag) + a_re
        im = self._scale(self.sin * self.real) + self._scale(self.cos * self.imag) + a_im
        re = np.clip(re, -self.limit, self.limit)
        im = np.clip(im, -self.limit, self.limit)
        if self.izhikevich:
            s = im >= self.vth
            re = np.where(s, 0, re)
            im = np.where(s, self.vth - 1, im)
        else:
            s = (re >= self.vth) & (im >= 0) & (self.imag < 0)
        self.real, self.imag = re, im
        return s.astype(np.int64)


def neuron_for(params: Optional[Mapping[str, Any]], shape: Tuple[int, int], *, input_layer: bool = False,
               bias: Any = 0, reset_interval: Optional[int] = None, reset_offset: int = 0,
               spike_exp: int = SPIKE_EXP) -> StockNeuron:
    """The neuron netx's ``get_neuron_params`` builds for a neuron group, over a batch.

    Parameters
    ----------
    params : mapping or None
        The group's values (``NeuronSpec.params``: ``type``, ``iDecay``, ``vThMant``, ...); None for a ``dense``
        layer without a group (:data:`DEFAULT_NEURON`).
    shape : (B, N)
        Batch and neuron count.
    input_layer : bool
        True for an ``input`` layer (an SDNN input is a ``Delta``).
    bias : int or np.ndarray
        The layer's ``bias`` mantissas (broadcastable to ``N``); netx gives none to ``input`` and complex layers.
    reset_interval, reset_offset : optional
        The layer's ``LIFReset`` schedule (:func:`reset_offset`); ignored by SDNN (netx warns) and RF neurons.
    spike_exp : int
        ``Network(spike_exp=...)``.
    """
    params = DEFAULT_NEURON if params is None else params
    kind = str(params["type"])
    if kind in ("CUBA", "LOIHI"):
        return CubaNeuron(shape, params, bias=bias, reset_interval=reset_interval, reset_offset=reset_offset)
    if kind == "SDNN":
        if input_layer:
            return DeltaNeuron(shape, params, spike_exp=spike_exp)
        if "sigma_output" in params:
            return SigmaNeuron(shape, params)
        return SigmaDeltaNeuron(shape, params, bias=bias, spike_exp=spike_exp)
    if "RF" in kind:
        return RFNeuron(shape, params, izhikevich="PHASE" not in kind)
    raise ValueError(f"netx builds no neuron for type {kind!r}")


def reset_offset(position: int, network_offset: int = 0) -> int:
    """The ``reset_offset`` netx gives the ``position``-th built layer (0-based): ``network_offset + 1 + position``."""
    return network_offset + 1 + position


@dataclass
class Trace:
    """What :func:`run` records: the messages ``s`` and each state of the neuron, all ``[T, B, N]`` int64."""

    s: np.ndarray
    states: Dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.s if key == "s" else self.states[key]


def run(neuron: StockNeuron, a_in: Union[np.ndarray, Sequence[np.ndarray]], *,
        recurrent: Optional[np.ndarray] = None, weight_exp: int = 0, recurrent_message_bits: int = 0,
        recurrent_delay: Optional[np.ndarray] = None, start_step: int = 1) -> Trace:
    """Drive ``neuron`` over a run and record its messages and states.

    Parameters
    ----------
    neuron : StockNeuron
        A fresh neuron (:func:`neuron_for`); its state carries over if it is run again.
    a_in : np.ndarray or pair
        ``[T, B, N]`` what it receives from its feed-forward synapse(s) in each step (:func:`dense_synapse`);
        RF neurons take ``(real, imag)``.
    recurrent : np.ndarray, optional
        ``(N, N)`` weights of netx's ``dense_rec`` synapse (``RecurrentDense.synapse_rec``: the neuron's own
        messages, one step later, added to ``a_in``).
    weight_exp : int
        Exponent of the recurrent synapse (netx: the joint one of :func:`lava_weights`; **0** when the layer has
        delays, because netx's delayed ``RecurrentDense`` passes no exponent).
    recurrent_message_bits : int
        ``num_message_bits`` of the recurrent synapse: netx gives it the layer's *input* message bits, not the
        neuron's (lava-dl issue #372); 0 casts the neuron's messages to bool.
    recurrent_delay : np.ndarray, optional
        ``(N, N)`` delays of the recurrent synapse (netx reuses the feed-forward layer's expanded delays).
    start_step : int
        Lava time step of ``a_in[0]`` (reset schedules count from it).
    """
    if recurrent is not None and neuron.inputs != 1:
        raise ValueError("netx's RecurrentDense connects to a_in, which RF neurons do not have")
    parts = tuple(np.asarray(a, np.int64) for a in (a_in if neuron.inputs == 2 else (a_in,)))
    steps = parts[0].shape[0]
    s_all = np.zeros((steps,) + neuron.shape, np.int64)
    states = {name: np.zeros((steps,) + neuron.shape, np.int64) for name in neuron.traces}
    rec = None
    if recurrent is not None:
        w = np.asarray(recurrent, np.int64)
        d = None if recurrent_delay is None else np.asarray(recurrent_delay, np.int64)
        depth = 1 + (0 if d is None else int(d.max(initial=0)))
        rec = np.zeros((depth,) + neuron.shape, np.int64)  # rec[k]: what arrives k steps from now
        bins = [(1, w)] if d is None else [(1 + int(k), np.where(d == k, w, 0)) for k in np.unique(d[w != 0])]
    for t in range(steps):
        a = [p[t] for p in parts]
        if rec is not None:
            a[0] = signed_wrap(a[0] + rec[0], CHANNEL_BITS)
            rec = np.roll(rec, -1, axis=0)
            rec[-1] = 0
        s = neuron.step(a if neuron.inputs == 2 else a[0], start_step + t)
        s_all[t] = s
        for name in neuron.traces:
            states[name][t] = getattr(neuron, name)
        if rec is not None:
            m = (s != 0).astype(np.int64) if recurrent_message_bits == 0 else s
            for lag, wk in bins:
                acc = m @ wk.T
                if recurrent_message_bits and d is None:
                    acc = signed_wrap(acc, CHANNEL_BITS)
                rec[lag - 1] += floor_shift(acc, weight_exp)
    return Trace(s=s_all, states=states)


# ---------------------------------------------------------------------------------- readout (refused by netx)
def average_readout(messages: np.ndarray, num_outputs: int) -> np.ndarray:
    """slayer's ``Average`` block (netx type ``average``; netx raises ``NotImplementedError`` on it).

    Output ``k`` is the mean of the ``N // num_outputs`` consecutive inputs ``k·G .. k·G + G - 1`` in each step
    (``torch.mean(x.reshape(N, num_outputs, -1, T), dim=2)``), float64 ``[T, B, num_outputs]``; as a class
    score, its sum over time is the population's spike count divided by ``G``.
    """
    m = np.asarray(messages)
    if m.shape[-1] % num_outputs:
        raise ValueError(f"{m.shape[-1]} inputs do not split into {num_outputs} equal groups")
    return m.reshape(m.shape[:-1] + (num_outputs, -1)).mean(axis=-1, dtype=np.float64)


# --------------------------------------------------------------------------------- convenience wrappers
def _batch(a_in: np.ndarray) -> Tuple[int, int]:
    return tuple(np.asarray(a_in).shape[1:3])


def run_integrator(a_in: np.ndarray, *, bias: Any = 0, reset_interval: Optional[int] = None,
                   reset_offset: int = 0) -> Trace:
    """netx's neuron-less ``dense`` layer (:data:`DEFAULT_NEURON`): ``u`` accumulates ``a << 6`` (24-bit wrap)
    since the last reset, ``v = sat24(u + (bias << 6))`` is the readout; ``s`` is always 0."""
    return run(CubaNeuron(_batch(a_in), DEFAULT_NEURON, bias=bias, reset_interval=reset_interval,
                          reset_offset=reset_offset), a_in)


def run_cuba(params: Mapping[str, Any], a_in: np.ndarray, **kwargs: Any) -> Trace:
    """A ``CUBA``/``LOIHI`` group (:class:`CubaNeuron`); ``kwargs``: ``bias``, ``reset_interval``, ``reset_offset``."""
    return run(CubaNeuron(_batch(a_in), params, **kwargs), a_in)


def run_sdnn(params: Mapping[str, Any], a_in: np.ndarray, *, input_layer: bool = False, bias: Any = 0,
             spike_exp: int = SPIKE_EXP) -> Trace:
    """An ``SDNN`` group: ``Delta`` (input layer), ``Sigma`` (``sigma_output``) or ``SigmaDelta``."""
    return run(neuron_for(params, _batch(a_in), input_layer=input_layer, bias=bias, spike_exp=spike_exp), a_in)


def run_rf(params: Mapping[str, Any], a_real: np.ndarray, a_imag: np.ndarray) -> Trace:
    """An ``RF_PHASE`` (``RF``) or other ``*RF*`` (``RF_IZ``) group driven by its real and imaginary synapses."""
    return run(neuron_for(params, _batch(a_real)), (a_real, a_imag))


def message_bits(params: Optional[Mapping[str, Any]]) -> int:
    """``output_message_bits`` of the block netx builds for a neuron group (the next synapse's ``num_message_bits``):
    ``messageBits`` or 0 (CUBA/LOIHI, the neuron-less default), ``messageBits`` or 16 (SDNN), always 0 (RF)."""
    params = DEFAULT_NEURON if params is None else params
    kind = str(params["type"])
    if kind == "SDNN":
        return int(params.get("messageBits", 16))
    if kind in ("CUBA", "LOIHI"):
        return int(params.get("messageBits", 0))
    return 0


__all__ = ["DEFAULT_NEURON", "CubaNeuron", "DeltaNeuron", "RFNeuron", "SigmaDeltaNeuron", "SigmaNeuron",
           "StockNeuron", "Trace", "average_readout", "dense_synapse", "lava_weights", "message_bits",
           "netx_delays", "neuron_for", "reset_offset", "rf_constants", "run", "run_cuba", "run_integrator",
           "run_rf", "run_sdnn"]

