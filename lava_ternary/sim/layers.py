"""The simulator's records of a netx network: :class:`SimLayer` and :class:`SimNeuron`, compiled from a file.

:func:`compile_network` reads the file (:func:`lava_ternary.netfile.read_network`) and asks each layer's
kind (:mod:`lava_ternary.kinds`) for its record; the weights are the integers Lava's synapses compute
with (netx's ``optimize_weight_bits`` and Lava's clip and truncation, :func:`lava_dense_weights`).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from lava_ternary import fixed, kinds
from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.base import LayerKind
from lava_ternary.netfile import LayerSpec, NetSpec, read_network
from lava_ternary.neuron_params import TernaryParams

#: Largest unrolled convolution matrix (in_size * out_size) multiplied instead of convolved.
MATRIX_ELEMENTS = 1 << 16


@dataclass(frozen=True)
class SimNeuron:
    """Integer neuron parameters of one layer: int64 arrays with one value per block of ``N // len(vth)``
    consecutive neurons in torch order (one block for a uniform layer, one per channel, or one per neuron),
    so that :mod:`lava_ternary.sim.kernel` sees scalars inside a block.

    Parameters
    ----------
    i_decay, v_decay : np.ndarray
        12-bit decay amounts (``4096 - x`` is kept), as :func:`lava_ternary.fixed.step` takes them.
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
    record_voltage : bool
        Record the voltage instead of the spikes: netx's neuron-less dense readout (an integrator that never
        fires, whose value is its voltage).
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
    record_voltage: bool = False

    #: dtype of the messages (float32, exact integers)
    message_dtype = np.float32

    @property
    def records_messages(self) -> bool:
        """True when the recorded output is what the group sends (not a readout's voltage)."""
        return not self.record_voltage

    @property
    def record_dtype(self) -> type:
        """dtype of the recorded output: spikes in {-1, 0, +1}, or a readout's 24-bit voltage."""
        return np.int32 if self.record_voltage else np.int8
    #: synapse hops in front of the group (0 only for a readout)
    hop = 1

    @property
    def staggered(self) -> bool:
        """True when the group restarts at netx's per-layer reset offset (Lava's ``LIFReset``), not with the sample."""
        return not self.restart

    def run(self, acc: np.ndarray, slot: np.ndarray, *, lag: int, phase: int, pad: int, rec: np.ndarray,
            nxt: np.ndarray) -> np.ndarray:
        """Run the group over the batch (:func:`lava_ternary.sim.kernel.run_group`); return the active steps."""
        from lava_ternary.sim import kernel  # numba loads with the first simulation, not for file readers (info)

        return kernel.run_group(self, acc, slot, lag=lag, phase=phase, pad=pad, rec=rec, nxt=nxt)

    def message_bound(self, nxt: np.ndarray) -> float:
        """Largest ``|message|`` the group sent (spikes: 1)."""
        return 1.0


@dataclass(frozen=True)
class SimLayer:
    """One simulated layer: an optional synapse feeding an optional neuron group.

    Parameters
    ----------
    index : int
        Index of the layer in the netx file.
    type : str
        The file's layer type (``'input'``: a neuron driven directly by the input, ``'dense'``, ``'conv'``,
        ``'pool'``, ``'concat'``, ``'flatten'``); :attr:`kind` is its home in :mod:`lava_ternary.kinds`.
    in_shape, out_shape : tuple of int
        Shapes in torch order ((C, H, W) or (N,)).
    weight : np.ndarray or None
        Integer weights as Lava's synapse uses them: dense ``(out, in)``, conv ``(out, in/groups, kH, kW)``
        (correlation, torch convention; a pool as a depthwise conv).
    weight_exp : int
        Shift applied to the dense accumulation (floor for negative exponents).
    stride, padding, dilation : tuple of int
        Convolution geometry, (H, W) order.
    groups : int
        Convolution groups.
    neuron : SimNeuron, StreamGroup, Readout or None
        The neuron group (None only for ``flatten``).
    delay : np.ndarray or None
        Axonal delay of every output neuron (int64 ``(N,)``), dense TERNARY layers only.
    shortcut : Shortcut or None
        The second synapse group of a ``concat`` layer.
    imag : SimLayer or None
        The imaginary synapse of a complex (RF) dense layer (``weight`` is the real one).
    synapse_delay : np.ndarray or None
        Delays of a stock (non-TERNARY) dense layer, ``(N,)`` or per synapse ``(N, N_in)``: Lava's ``DelayDense``
        over the sample stream (no per-sample discard).
    """

    index: int
    type: str
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
    imag: Optional["SimLayer"] = None
    synapse_delay: Optional[np.ndarray] = None

    @property
    def kind(self) -> LayerKind:
        """The layer kind: its synapse arithmetic, operation counts and timing."""
        return kinds.get(self.type)

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
        from lava_ternary.sim.synapse import conv2d

        size, out = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
        if not self.kind.convolutional or size * out > MATRIX_ELEMENTS:
            return None
        basis = np.eye(size, dtype=np.float64).reshape((size,) + tuple(self.in_shape))
        return conv2d(self, basis, self.weight.astype(np.float64)).reshape(size, out).astype(np.float32)

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
        The 1x1 convolution (type ``'conv'``, the consumer's neuron group) from the source's shape.
    delay : int
        Axonal delay: the consumer integrates source step ``t - lag - delay`` and discards window steps
        ``1 .. delay`` (as :class:`lava_ternary.proc.TernaryCUBA` with ``input_delay``).
    """

    source: int
    synapse: SimLayer
    delay: int


@functools.lru_cache(maxsize=None)
def _netx_utils():
    """``lava.lib.dl.netx.utils`` (numpy and h5py only) loaded without its package, whose ``__init__`` imports
    slayer, torchvision and torch's compiler (seconds); a private copy, not entered in ``sys.modules``."""
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
    exponent); Lava's ``Dense`` model then clips and truncates them (:func:`lava_ternary.sim.stock.lava_weights`,
    which calls lava's own functions, so that the simulator sees the very same integers).
    """
    from lava_ternary.sim.stock import lava_weights

    (weight,), exp, _ = lava_weights(np.asarray(weight))
    return weight, exp


def lava_sparse_weights(weight: np.ndarray) -> np.ndarray:
    """The weights Lava's bit-accurate ``DelaySparse`` computes with (8-bit clip and truncation; exponent 0)."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    weight = np.asarray(weight, dtype=np.int64)
    if not weight.any():
        return weight
    mode = determine_sign_mode(weight)
    return np.asarray(truncate_weights(clip_weights(weight, mode, num_bits=8), mode, 8), dtype=np.int64)


def _blocks(values: Sequence[np.ndarray], shape: Tuple[int, ...]) -> List[np.ndarray]:
    """Parameters broadcastable to ``shape`` as one value per block: per layer, per channel, or per neuron."""
    flat = [np.broadcast_to(np.asarray(x, np.int64), shape).reshape(-1) for x in values]
    size = int(np.prod(shape))
    blocks = next(g for g in (1, shape[0], size)
                  if all((vals.reshape(g, -1) == vals.reshape(g, -1)[:, :1]).all() for vals in flat))
    return [np.ascontiguousarray(vals.reshape(blocks, -1)[:, 0]) for vals in flat]


def per_channel(value, shape: Tuple[int, ...]) -> np.ndarray:
    """A scalar, per-channel or per-neuron value as an array broadcastable to ``shape`` (torch order)."""
    arr = np.asarray(value, dtype=np.int64)
    if arr.ndim == 0 or arr.size == 1:
        return arr.reshape(())
    if arr.size == int(np.prod(shape)):
        return arr.reshape(shape)
    if arr.size == shape[0]:
        return arr.reshape((shape[0],) + (1,) * (len(shape) - 1))
    raise ValueError(f"{arr.size} values fit neither one per channel nor one per neuron of shape {shape}")


def sim_neuron(layer: LayerSpec, path: str):
    """The simulator's neuron group of a layer: a :class:`SimNeuron` for the fused loop (TERNARY, CUBA/LOIHI and
    the neuron-less integrator, recording its voltage), else a step-by-step
    :class:`lava_ternary.sim.stream.StreamGroup` (SDNN, RF)."""
    spec = layer.neuron
    if spec is not None and spec.type not in ("TERNARY", "CUBA", "LOIHI"):
        from lava_ternary.sim.stream import stream_group

        return stream_group(layer, path)
    shape = tuple(int(s) for s in layer.shape)
    # netx gives an input layer's bias to Input.transform, never to its neuron
    bias = np.zeros((), np.int64) if layer.bias is None or layer.type == "input" else per_channel(layer.bias, shape)
    bias = np.left_shift(bias, fixed.ACT_SHIFT)
    if spec is not None and spec.is_ternary:
        p: TernaryParams = spec.ternary
        i_decay, v_decay, vth, bias, v_init = _blocks(
            [per_channel(p.i_decay, shape), per_channel(p.v_decay, shape), per_channel(p.vth, shape), bias,
             per_channel(p.v_init, shape)], shape)
        return SimNeuron(i_decay=i_decay, v_decay=v_decay, vth=vth, bias=bias, v_init=v_init,
                         soft_reset=p.soft_reset, binary=p.binary, message_bits=p.message_bits, restart=True)
    from lava_ternary.sim.stock import DEFAULT_NEURON  # what netx builds for a dense layer without a group

    q = DEFAULT_NEURON if spec is None else spec.params
    i_decay, v_decay, vth, bias, v_init = _blocks(
        [per_channel(q["iDecay"], shape), per_channel(q["vDecay"], shape), per_channel(q["vThMant"], shape), bias,
         np.zeros((), np.int64)], shape)
    return SimNeuron(i_decay=i_decay, v_decay=v_decay, vth=vth, bias=bias, v_init=v_init, soft_reset=False,
                     binary=True, message_bits=int(q.get("messageBits", 0)), restart=False,
                     kind="integrator" if spec is None else spec.type, record_voltage=spec is None)


def with_input_bias(layers: Sequence[SimLayer], bias_mant: np.ndarray) -> List[SimLayer]:
    """The layers with the input layer's neuron group driven by a per-neuron bias, as lava-dl's tests drive it.

    lava-dl's own netx tests feed tinynet and pilotnet by setting ``net.in_layer.neuron.bias_mant``; this is
    the same, in torch order: ``bias_mant`` is a scalar, one value per channel or per neuron of the input
    layer's (C, H, W) shape (transpose a Lava (W, H, C) array with ``.transpose(2, 1, 0)``). The effective
    bias is ``bias_mant << 6`` (netx's ``bias_exp`` of CUBA and TERNARY neurons).

    Raises
    ------
    ValueError
        When the network has no input neuron group, or the bias does not fit its shape or the 13-bit range.
    """
    if not layers or layers[0].type != "input" or layers[0].neuron is None:
        raise ValueError("input_bias: the network has no input neuron group to bias (its first layer must be an "
                         "'input' layer with a neuron)")
    arr = np.asarray(bias_mant)
    if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr))):
        raise ValueError("input_bias: expected integer bias mantissas")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < -(1 << 12) or arr.max() >= 1 << 12):
        raise ValueError(f"input_bias: values in [{arr.min()}, {arr.max()}] outside the 13-bit bias range "
                         f"{-(1 << 12)}..{(1 << 12) - 1}")
    first = layers[0]
    shape = tuple(first.out_shape)
    try:
        bias = per_channel(arr, shape)
    except ValueError as exc:
        raise ValueError(f"input_bias: {exc}") from None
    n = first.neuron
    old = [np.repeat(value, int(np.prod(shape)) // value.size) for value in (n.i_decay, n.v_decay, n.vth, n.v_init)]
    i_decay, v_decay, vth, bias, v_init = _blocks(
        [o.reshape(shape) for o in old[:3]] + [np.left_shift(bias, fixed.ACT_SHIFT), old[3].reshape(shape)], shape)
    neuron = dataclasses.replace(n, i_decay=i_decay, v_decay=v_decay, vth=vth, bias=bias, v_init=v_init)
    return [dataclasses.replace(first, neuron=neuron)] + list(layers[1:])


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
        if spec.kind.synaptic:
            if spec.neuron is None and spec.kind.convolutional:
                raise NetxFormatError(net.path, spec.index, "neuron", "the simulator needs a neuron group on a "
                                                                       "convolution layer")
            if spec.weight_exp:
                # stock netx (and so lava_ternary.netx.Network) builds Dense/Conv without the file's exponent
                raise NetxFormatError(net.path, spec.index, "neuron/weight_exp", "a per-layer weight exponent is "
                                      "not applied by the netx loader, so the simulator refuses it rather than diverge")
        neuron = sim_neuron(spec, net.path) if spec.neuron is not None or spec.kind.synaptic else None
        layer = spec.kind.compile(spec, net, neuron)
        if layer is not None:
            layers.append(layer.precompute())
    if not any(layer.neuron is not None for layer in layers):
        raise NetxFormatError(net.path, None, "layer", "the network has no neuron layer to simulate")
    return layers
