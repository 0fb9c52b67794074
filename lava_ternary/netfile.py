"""The one reader and validator of netx HDF5 network files, into plain numpy records.

:func:`read_network` opens a file written by :func:`lava_ternary.netx.export_hdf5` (or by lava-dl's
slayer blocks), checks every key the consumers need (presence, dtype, range, and the shapes between
consecutive layers) and returns a :class:`NetSpec` of :class:`LayerSpec` records holding plain numpy
values. The Lava loader (:mod:`lava_ternary.netx`), the batched simulator, the report and
``lava-ternary info`` all read networks through it, so a bad file fails the same way everywhere:
with one :class:`~lava_ternary.errors.NetxFormatError` naming file, layer and key.

Reading happens in two stages: :mod:`lava_ternary.safe_read` lets ``libhdf5`` parse the file (in a
child process with time and memory limits, by default) and hands back only the whitelisted keys as
bounded numpy arrays and strings; this module then validates those values in pure numpy. Every range
that Lava or the simulator would wrap is refused here, for every neuron kind the reader accepts
(TERNARY, CUBA/LOIHI, SDNN, RF), so that a file that loads runs the same in both.

Axis orders are the file's (torch): ``shape`` is (C, H, W) or (N,), conv weights are
(C_out, C_in/groups, kH, kW), dense weights (out, in); ``kernel_size``/``stride``/``padding``/
``dilation`` are (H, W). The schema and the limits are documented in ``docs/netx_schema.md``.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from lava_ternary import fixed, kinds
from lava_ternary.errors import NetxFormatError
from lava_ternary.kinds.base import LayerKind
from lava_ternary.neuron_params import TernaryParams
from lava_ternary.safe_read import LIMITS, Limits, RawLayer, read_raw

__all__ = ["LIMITS", "Limits", "LayerSpec", "NetSpec", "NeuronSpec", "read_network"]

#: Layer types this package reads: one home each in :mod:`lava_ternary.kinds`.
LAYER_TYPES = tuple(kinds.KINDS)
#: Neuron types handed to stock netx (beside our ``TERNARY``; any type containing ``RF`` is an RF neuron).
STOCK_NEURON_TYPES = ("CUBA", "LOIHI", "SDNN")
#: Required integer keys of a TERNARY neuron group with their allowed closed ranges.
TERNARY_INT_KEYS = {"vThMant": (1, fixed.MAX_VTH_MANT), "refDelay": (0, 1 << 16), "messageBits": (1, 32)}
#: TERNARY keys that may be a scalar or one value per channel, with their allowed ranges.
TERNARY_CHANNEL_KEYS = {"iDecay": (0, fixed.DECAY_UNITY), "vDecay": (0, fixed.DECAY_UNITY),
                        "vInit": (-(fixed.MAX_STATE - 1), fixed.MAX_STATE - 1)}
#: Required keys (one value each: Lava's neurons hold them in shape-(1,) Vars) of the stock neuron kinds.
STOCK_NEURON_KEYS = {
    # up to 2**18 - 1: slayer's Affine readout writes it (a LIF that never fires; its voltage is the output)
    "CUBA": {"iDecay": (0, fixed.DECAY_UNITY), "vDecay": (0, fixed.DECAY_UNITY), "vThMant": (1, (1 << 18) - 1)},
    "SDNN": {"vThMant": (0, fixed.MAX_VTH_MANT)},
    "RF": {"vThMant": (1, fixed.MAX_VTH_MANT), "sinDecay": (1, fixed.DECAY_UNITY),
           "cosDecay": (-fixed.DECAY_UNITY, fixed.DECAY_UNITY)},
}
STOCK_NEURON_KEYS["LOIHI"] = STOCK_NEURON_KEYS["CUBA"]
#: Stock CUBA/LOIHI keys a dense layer may give per neuron (netx builds them into Lava's per-neuron Vars).
PER_NEURON_KEYS = ("iDecay", "vDecay")
#: Optional ``messageBits`` of any neuron (0: unary spikes).
MESSAGE_BITS_RANGE = (0, 32)
WEIGHT_MANT_RANGE = (-256, 254)
#: Bias mantissas: 13 bits signed (Lava's ``bias_mant``; the effective bias is ``bias << 6``).
BIAS_RANGE = (-(1 << 12), (1 << 12) - 1)
#: Axonal delays (netx clips anything else; the simulator runs TERNARY dense delays, one per output neuron).
DELAY_RANGE = (0, 62)
WEIGHT_EXP_RANGE = (-8, 8)


@dataclass(frozen=True)
class NeuronSpec:
    """A layer's neuron group.

    Attributes
    ----------
    type : str
        ``'TERNARY'`` or a stock netx type (``'CUBA'``, ``'LOIHI'``, ``'SDNN'``, ...).
    params : dict
        Every dataset of the group as a plain value (python scalar, str, bool or numpy array).
    """

    type: str
    params: Dict[str, Any]

    @property
    def is_ternary(self) -> bool:
        """True for this package's ``TERNARY`` neuron (ternary or binary spike mode)."""
        return self.type == "TERNARY"

    @property
    def is_rf(self) -> bool:
        """True for netx's resonate-and-fire neurons (any type containing ``RF``), driven by complex weights."""
        return "RF" in self.type

    @property
    def ternary(self) -> TernaryParams:
        """The parameter record of a TERNARY group (:class:`lava_ternary.neuron_params.TernaryParams`)."""
        if not self.is_ternary:
            raise ValueError(f"a {self.type} neuron group has no TERNARY parameter record")
        return TernaryParams.from_netx(self.params)

    @property
    def message_bits(self) -> int:
        """Bits of the outgoing message (0 means unary spikes, as netx)."""
        return int(self.params.get("messageBits", 0))


@dataclass(frozen=True)
class LayerSpec:
    """One ``layer/<index>`` group as plain numpy values (absent keys are ``None``).

    Attributes
    ----------
    index : int
        Position in the file.
    type : str
        One of :data:`LAYER_TYPES`.
    shape : tuple of int
        Output shape of the layer in file order: (C, H, W) or (N,) / (N, 1, 1).
    input_shape : tuple of int or None
        Output shape of the previous layer (None for the first layer).
    weight : np.ndarray or None
        Integer weight mantissas (int64): dense (out, in), conv (C_out, C_in/groups, kH, kW),
        pool (1, 1, kH, kW).
    weight_exp : int
        Per-layer weight exponent: the effective weight is ``weight << weight_exp``.
    bias : np.ndarray or None
        Integer bias mantissas (int64, 1-D), per channel (conv, pool) or per neuron in file order; effective
        bias ``bias << 6``.
    delay : np.ndarray or None
        Axonal delays (int64) if the file has them.
    kernel_size, stride, padding, dilation : tuple of two ints or None
        Conv/pool geometry in (H, W) order.
    groups : int
        Conv groups (1 if absent).
    weight_rec : np.ndarray or None
        Recurrent weights of a ``dense_rec`` layer.
    transform_weight : int or None
        An ``input`` layer's ``weight`` (with its ``bias``: netx's ``Input.transform``, recorded, not applied).
    weight_imag : np.ndarray or None
        Imaginary part of a complex dense layer (``weight/imag``; ``weight`` then holds ``weight/real``), whose
        neuron group is an RF neuron.
    neuron : NeuronSpec or None
        The neuron group (None for flatten/average and neuron-less layers).
    inputs : tuple of int or None
        Graph extension (``concat`` layers): the layers whose spikes this layer's neuron group integrates,
        ``(previous layer, shortcut source)``; None for a sequential layer (it reads the previous layer).
    shortcut_weight : np.ndarray or None
        Integer mantissas ``(C_out, C_in, 1, 1)`` of the 1x1 shortcut synapse of a ``concat`` layer.
    shortcut_stride : tuple of two ints or None
        Its stride (H, W).
    shortcut_delay : int
        Axonal delay of the shortcut synapse: the neuron groups on the main path between the shortcut source
        and this layer, so that both branches reach the neuron group in the same step.
    """

    index: int
    type: str
    shape: Tuple[int, ...]
    input_shape: Optional[Tuple[int, ...]] = None
    weight: Optional[np.ndarray] = None
    weight_exp: int = 0
    bias: Optional[np.ndarray] = None
    delay: Optional[np.ndarray] = None
    kernel_size: Optional[Tuple[int, int]] = None
    stride: Optional[Tuple[int, int]] = None
    padding: Optional[Tuple[int, int]] = None
    dilation: Optional[Tuple[int, int]] = None
    groups: int = 1
    weight_rec: Optional[np.ndarray] = None
    weight_imag: Optional[np.ndarray] = None
    transform_weight: Optional[int] = None
    neuron: Optional[NeuronSpec] = None
    inputs: Optional[Tuple[int, ...]] = None
    shortcut_weight: Optional[np.ndarray] = None
    shortcut_stride: Optional[Tuple[int, int]] = None
    shortcut_delay: int = 0

    @property
    def size(self) -> int:
        """Number of output neurons."""
        return int(np.prod(self.shape))

    @property
    def stored_weights(self) -> int:
        """Weight mantissas the layer stores, over all its synapse groups (main, recurrent, imaginary, shortcut)."""
        return sum(int(w.size) for w in (self.weight, self.weight_rec, self.weight_imag, self.shortcut_weight)
                   if w is not None)

    @property
    def kind(self) -> LayerKind:
        """The layer's kind (:mod:`lava_ternary.kinds`): its keys, Lava build, synapse and counts."""
        return kinds.get(self.type)

    @property
    def is_ternary(self) -> bool:
        """True if the layer's neuron is this package's TERNARY neuron."""
        return self.neuron is not None and self.neuron.is_ternary

    @property
    def channels(self) -> int:
        """Output channels (first axis of ``shape``)."""
        return int(self.shape[0])


@dataclass(frozen=True)
class NetSpec:
    """A whole netx network file: its path and its layers in order."""

    path: str
    layers: Tuple[LayerSpec, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, index: int) -> LayerSpec:
        return self.layers[index]

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """Shape (file order) of the data the network consumes."""
        first = self.layers[0]
        return first.shape if first.type == "input" else first.input_shape

    @property
    def output_shape(self) -> Tuple[int, ...]:
        """Shape (file order) of the last layer's output."""
        return self.layers[-1].shape

    @property
    def is_graph(self) -> bool:
        """True if some layer integrates a shortcut (``concat``, the graph extension)."""
        return any(layer.inputs is not None for layer in self.layers)

    @property
    def is_ternary(self) -> bool:
        """True if any layer uses the TERNARY neuron."""
        return any(layer.is_ternary for layer in self.layers)


class _Reader:
    """Validates the raw layers of one file; every failure becomes a NetxFormatError naming file, layer and key."""

    def __init__(self, path: str, input_shape: Optional[Tuple[int, ...]], limits: Limits):
        self.path, self.limits = path, limits
        self.input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)

    def fail(self, layer: Optional[int], key: Optional[str], problem: str) -> NetxFormatError:
        return NetxFormatError(self.path, layer, key, problem)

    def text(self, raw: RawLayer, key: str, layer: int, prefix: str = "") -> str:
        value = raw.get(key)
        if value is None:
            raise self.fail(layer, prefix + key, "missing")
        if not isinstance(value, str):
            found = "a group" if isinstance(value, dict) else f"{value!r}"
            raise self.fail(layer, prefix + key, f"expected a string, found {found}")
        return value

    def ints(self, raw: RawLayer, key: str, layer: int, prefix: str = "", required: bool = True,
             ndim: Optional[Tuple[int, ...]] = None, lo: Optional[int] = None,
             hi: Optional[int] = None, what: str = "") -> Optional[np.ndarray]:
        """An integer-valued dataset as int64 (float storage holding integers is accepted), range-checked."""
        value = raw.get(key)
        name = prefix + key
        if value is None:
            if required:
                raise self.fail(layer, name, "missing")
            return None
        if isinstance(value, dict):
            raise self.fail(layer, name, "expected a dataset, found a group")
        if isinstance(value, str):
            raise self.fail(layer, name, f"expected numbers, found the string {value!r}")
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise self.fail(layer, name, f"expected numbers, found dtype {value.dtype}")
        if ndim is not None and value.ndim not in ndim:
            raise self.fail(layer, name, f"expected {' or '.join(map(str, ndim))}-D, found shape {value.shape}")
        if value.size == 0:
            return value.astype(np.int64)
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)) or np.any(value != np.round(value)):
                raise self.fail(layer, name, "expected integer values, found fractions or non-finite values")
        # compare before converting: uint64 and large floats would wrap in int64
        low, high = value.min(), value.max()
        if float(high) >= 2.0 ** 62 or float(low) <= -2.0 ** 62:
            raise self.fail(layer, name, f"values in [{low}, {high}] are far out of range")
        value = value.astype(np.int64)
        low, high = int(value.min()), int(value.max())
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            raise self.fail(layer, name, f"values in [{low}, {high}] outside {lo}..{hi}{what}")
        return value

    def scalar(self, raw: RawLayer, key: str, layer: int, prefix: str = "", default: Optional[int] = None,
               lo: Optional[int] = None, hi: Optional[int] = None) -> Optional[int]:
        value = self.ints(raw, key, layer, prefix, required=default is None, lo=lo, hi=hi)
        if value is None:
            return default
        if value.size != 1:
            raise self.fail(layer, prefix + key, f"expected one value, found shape {value.shape}")
        return int(value.reshape(-1)[0])

    def pair(self, raw: RawLayer, key: str, layer: int, default: Optional[int] = None,
             lo: int = 0) -> Tuple[int, int]:
        value = self.ints(raw, key, layer, required=default is None, lo=lo, hi=self.limits.max_layer_neurons)
        if value is None:
            return (default, default)
        flat = value.reshape(-1)
        if flat.size == 1:  # netx expands a scalar to both axes
            flat = np.repeat(flat, 2)
        if flat.size != 2:
            raise self.fail(layer, key, f"expected two values (H, W), found shape {value.shape}")
        return int(flat[0]), int(flat[1])

    # ---------------------------------------------------------------- neuron
    def neuron(self, raw: RawLayer, layer: int, shape: Tuple[int, ...]) -> Optional[NeuronSpec]:
        ngroup = raw.get("neuron")
        if ngroup is None:
            return None
        if not isinstance(ngroup, dict):
            raise self.fail(layer, "neuron", "expected a group, found a dataset")
        ntype = self.text(ngroup, "type", layer, "neuron/")
        params: Dict[str, Any] = {"type": ntype}
        if ntype == "TERNARY":
            self._ternary(ngroup, params, layer, shape)
            return NeuronSpec(ntype, params)
        kind = ntype if ntype in STOCK_NEURON_TYPES else "RF" if "RF" in ntype else None
        if kind is None:
            raise self.fail(layer, "neuron/type", f"unknown neuron type {ntype!r} (known: TERNARY, "
                                                  f"{', '.join(STOCK_NEURON_TYPES)}, RF variants)")
        for key, (lo, hi) in STOCK_NEURON_KEYS[kind].items():
            if kind in ("CUBA", "LOIHI") and key in PER_NEURON_KEYS and len(shape) == 1:
                params[key] = self._per_neuron(ngroup, key, layer, shape[0], lo, hi)
            else:
                params[key] = self.scalar(ngroup, key, layer, "neuron/", lo=lo, hi=hi)
        if "messageBits" in ngroup:
            params["messageBits"] = self.scalar(ngroup, "messageBits", layer, "neuron/", lo=MESSAGE_BITS_RANGE[0],
                                                hi=MESSAGE_BITS_RANGE[1])
        if kind == "SDNN" and "sigma_output" in ngroup:
            params["sigma_output"] = True  # netx only asks whether the key exists
        if kind == "RF" and params["sinDecay"] ** 2 + params["cosDecay"] ** 2 > fixed.DECAY_UNITY ** 2:
            raise self.fail(layer, "neuron/cosDecay", f"sinDecay={params['sinDecay']} and cosDecay="
                                                      f"{params['cosDecay']} make a growing oscillation "
                                                      f"(sin^2 + cos^2 must be <= {fixed.DECAY_UNITY}^2)")
        return NeuronSpec(ntype, params)

    def _per_neuron(self, ngroup: RawLayer, key: str, layer: int, size: int, lo: int, hi: int) -> Any:
        """One value, or one per neuron (slayer's ``shared_param=False`` writes a CUBA dense layer's decays so)."""
        value = self.ints(ngroup, key, layer, "neuron/", ndim=(0, 1), lo=lo, hi=hi)
        if value.size not in (1, size):
            raise self.fail(layer, f"neuron/{key}", f"expected one value or {size} (one per neuron), found "
                                                    f"{value.size}")
        return int(value.reshape(-1)[0]) if value.size == 1 else value

    def _ternary(self, ngroup: RawLayer, params: Dict[str, Any], layer: int, shape: Tuple[int, ...]) -> None:
        for key, (lo, hi) in TERNARY_INT_KEYS.items():
            params[key] = self.scalar(ngroup, key, layer, "neuron/", lo=lo, hi=hi)
        for key, allowed in (("resetMode", fixed.RESET_MODES), ("spikeMode", fixed.SPIKE_MODES)):
            params[key] = self.text(ngroup, key, layer, "neuron/")
            if params[key] not in allowed:
                raise self.fail(layer, f"neuron/{key}", f"{params[key]!r} is not one of {allowed}")
        need = 1 if params["spikeMode"] == "binary" else 2
        if params["messageBits"] < need:
            raise self.fail(layer, "neuron/messageBits",
                            f"{params['messageBits']} bits cannot carry {params['spikeMode']} spikes (need >= {need}; "
                            "with fewer, Lava's Dense/Conv turn -1 into +1)")
        for key, (lo, hi) in TERNARY_CHANNEL_KEYS.items():
            value = self.ints(ngroup, key, layer, "neuron/", required=key != "vInit", ndim=(0, 1), lo=lo, hi=hi)
            value = np.zeros((), np.int64) if value is None else value
            if value.ndim == 1 and value.size != shape[0]:
                raise self.fail(layer, f"neuron/{key}", f"expected a scalar or {shape[0]} values (one per channel), "
                                                        f"found {value.size}")
            params[key] = int(value.reshape(-1)[0]) if value.size == 1 else value
        if "amplitude" in ngroup:
            amplitude = ngroup["amplitude"]
            if (not isinstance(amplitude, np.ndarray) or amplitude.dtype.kind not in "biuf"
                    or not np.all(np.isfinite(amplitude)) or np.any(amplitude <= 0)):
                raise self.fail(layer, "neuron/amplitude", f"expected finite positive numbers, found {amplitude!r}")
            params["amplitude"] = amplitude.astype(np.float64)

    # ---------------------------------------------------------------- layers
    def layer(self, raw: RawLayer, index: int, prev: Optional[Tuple[int, ...]]) -> LayerSpec:
        ltype = self.text(raw, "type", index)
        if ltype not in kinds.KINDS:
            raise self.fail(index, "type", f"unknown layer type {ltype!r} (supported: {', '.join(LAYER_TYPES)})")
        kind = kinds.get(ltype)
        shape_arr = self.ints(raw, "shape", index, ndim=(1,))
        if not 1 <= shape_arr.size <= 3 or np.any(shape_arr < 1):
            raise self.fail(index, "shape", f"expected 1 to 3 positive sizes, found {shape_arr.tolist()}")
        shape = tuple(int(s) for s in shape_arr)
        if math.prod(shape) > self.limits.max_layer_neurons:
            raise self.fail(index, "shape", f"{shape} has {math.prod(shape)} neurons, more than the limit "
                                            f"{self.limits.max_layer_neurons} (LIMITS.max_layer_neurons)")
        for key in ("inputs", "shortcutWeight", "shortcutStride"):
            if key in raw and ltype != "concat":
                raise self.fail(index, key, f"only a concat layer (the graph extension) has {key}, not a {ltype} layer")
        if prev is None and ltype != "input":
            prev = self.input_shape
        fields: Dict[str, Any] = dict(index=index, type=ltype, shape=shape, input_shape=prev)
        fields.update(kind.read(self, raw, index, shape, prev))
        if kind.synaptic:
            bias = self.ints(raw, "bias", index, required=False, lo=BIAS_RANGE[0], hi=BIAS_RANGE[1],
                             what=" (13-bit bias mantissas)")
            fields["bias"] = self.bias(bias, index, shape, kind.convolutional)
        if kind.has_neuron:
            fields["neuron"] = self.neuron(raw, index, shape)
            exp_range = dict(lo=WEIGHT_EXP_RANGE[0], hi=WEIGHT_EXP_RANGE[1])
            if isinstance(raw.get("neuron"), dict) and "weight_exp" in raw["neuron"]:
                fields["weight_exp"] = self.scalar(raw["neuron"], "weight_exp", index, "neuron/", **exp_range)
            if "weightExp" in raw:
                fields["weight_exp"] = self.scalar(raw, "weightExp", index, **exp_range)
        return LayerSpec(**fields)

    def bias(self, bias: Optional[np.ndarray], index: int, shape: Tuple[int, ...],
             conv: bool) -> Optional[np.ndarray]:
        """A bias per neuron (dense, conv) or per channel (conv) as a flat vector in file (torch) order."""
        if bias is None:
            return None
        sizes = (shape[0], math.prod(shape)) if conv else (math.prod(shape),)
        if bias.size not in sizes or (bias.ndim != 1 and bias.shape != shape):
            allowed = " or ".join(f"({size},)" for size in sorted(set(sizes)))
            raise self.fail(index, "bias", f"expected shape {allowed} or {shape} ({'per channel or ' if conv else ''}"
                                           f"per neuron), found {bias.shape}")
        return bias.reshape(-1)

    def need_prev(self, index: int, prev: Optional[Tuple[int, ...]]) -> None:
        """Fail unless the layer's input shape is known."""
        if prev is None:
            raise self.fail(index, "shape", "the input shape is unknown: the file has no input layer and "
                                            "no input_shape was given (give it: Network(..., input_shape=(W, H, C)), "
                                            "--input-shape C,H,W; lava_ternary.netx.export_hdf5 records it)")

    def weight(self, raw: RawLayer, key: str, index: int, ndim: Tuple[int, ...], prefix: str = "") -> np.ndarray:
        """Non-empty integer weight mantissas in the 8-bit range."""
        weight = self.ints(raw, key, index, prefix, ndim=ndim, lo=WEIGHT_MANT_RANGE[0], hi=WEIGHT_MANT_RANGE[1],
                           what=" (the 8-bit weight range)")
        if weight.size == 0:
            raise self.fail(index, prefix + key, f"an empty weight of shape {weight.shape}")
        return weight

    def delay(self, raw: RawLayer, index: int, sizes: Tuple[int, ...],
              matrix: Optional[Tuple[int, ...]] = None) -> Optional[np.ndarray]:
        """Axonal delays: integers 0..62, a scalar, one per entry of ``sizes`` or (dense) the weight's shape."""
        delay = self.ints(raw, "delay", index, required=False, lo=DELAY_RANGE[0], hi=DELAY_RANGE[1])
        if delay is None:
            return None
        if not (delay.ndim == 0 or (delay.ndim == 1 and delay.size in sizes) or delay.shape == matrix):
            allowed = " or ".join([f"({s},)" for s in sizes] + ([str(matrix)] if matrix else []))
            raise self.fail(index, "delay", f"expected a scalar or shape {allowed}, found {delay.shape}")
        return delay

    def network(self, raw_layers: List[RawLayer]) -> NetSpec:
        layers: List[LayerSpec] = []
        prev: Optional[Tuple[int, ...]] = None
        for i, raw in enumerate(raw_layers):
            spec = self.layer(raw, i, prev)
            linked = spec.kind.link(self, raw, spec, layers)
            if linked:
                spec = dataclasses.replace(spec, **linked)
            layers.append(spec)
            prev = spec.shape
        return NetSpec(path=self.path, layers=tuple(layers))


def read_network(path: Union[str, "os.PathLike[str]"], input_shape: Optional[Tuple[int, ...]] = None,
                 limits: Optional[Limits] = None) -> NetSpec:
    """Read and validate a netx HDF5 network file.

    Parameters
    ----------
    path : str or path-like
        The ``.net`` / ``.h5`` file.
    input_shape : tuple of int, optional
        Input shape in file order (C, H, W) or (N,), for files whose first layer is not ``input``.
        Without it the first layer's input is inferred from its weights where possible (dense).
    limits : Limits, optional
        Bounds of the read and whether to parse in a child process (default: :data:`LIMITS`).

    Returns
    -------
    NetSpec
        The layers as plain numpy records.

    Raises
    ------
    NetxFormatError
        For a missing or non-regular file, a file that is not HDF5, links or storage outside the file, a
        dataset over the limits, a missing/ill-typed/out-of-range key or inconsistent shapes, and for a
        parse that crashes or runs out of time or memory.
    """
    name = os.fspath(path)
    limits = LIMITS if limits is None else limits
    return _Reader(name, input_shape, limits).network(read_raw(name, limits))
