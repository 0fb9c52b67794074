"""The one reader and validator of netx HDF5 network files, into plain numpy records.

:func:`read_network` opens a file written by :func:`lava_ternary.netx.export_hdf5` (or by lava-dl's
slayer blocks), checks every key the consumers need (presence, dtype, range, and the shapes between
consecutive layers) and returns a :class:`NetSpec` of :class:`LayerSpec` records holding plain numpy
values. The Lava loader (:mod:`lava_ternary.netx`), the batched simulator, the report and
``lava-ternary info`` all read networks through it, so a bad file fails the same way everywhere:
with one :class:`~lava_ternary.errors.NetxFormatError` naming file, layer and key.

Axis orders are the file's (torch): ``shape`` is (C, H, W) or (N,), conv weights are
(C_out, C_in/groups, kH, kW), dense weights (out, in); ``kernel_size``/``stride``/``padding``/
``dilation`` are (H, W). The schema is documented in ``docs/netx_schema.md``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

import h5py
import numpy as np

from lava_ternary import fixed
from lava_ternary.errors import NetxFormatError

#: Layer types this package reads (and the Lava loader builds).
LAYER_TYPES = ("input", "dense", "dense_rec", "conv", "pool", "flatten", "average")
#: Neuron types handed to stock netx unchanged (beside our ``TERNARY``).
STOCK_NEURON_TYPES = ("CUBA", "LOIHI", "SDNN")
#: Required integer keys of a TERNARY neuron group with their allowed closed ranges.
TERNARY_INT_KEYS = {"vThMant": (1, fixed.MAX_VTH_MANT), "refDelay": (0, 1 << 16), "messageBits": (1, 32)}
#: TERNARY keys that may be a scalar or one value per channel, with their allowed ranges.
TERNARY_CHANNEL_KEYS = {"iDecay": (0, fixed.DECAY_UNITY), "vDecay": (0, fixed.DECAY_UNITY),
                        "vInit": (-(fixed.MAX_STATE - 1), fixed.MAX_STATE - 1)}
WEIGHT_MANT_RANGE = (-256, 254)


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
    def message_bits(self) -> int:
        """Bits of the outgoing message (0 means unary spikes, as netx)."""
        return int(self.params.get("messageBits", 0))

    @property
    def binary(self) -> bool:
        """True when the neuron only fires +1."""
        return self.params.get("spikeMode") == "binary"

    @property
    def soft_reset(self) -> bool:
        """True when a spike subtracts the threshold instead of zeroing the voltage."""
        return self.params.get("resetMode") == "soft"

    @property
    def v_init(self) -> Union[int, np.ndarray]:
        """Initial voltage in state units (scalar or per channel)."""
        return self.params.get("vInit", 0)


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
        Integer bias mantissas (int64), per channel or per neuron; effective bias ``bias << 6``.
    delay : np.ndarray or None
        Axonal delays (int64) if the file has them.
    kernel_size, stride, padding, dilation : tuple of two ints or None
        Conv/pool geometry in (H, W) order.
    groups : int
        Conv groups (1 if absent).
    weight_rec : np.ndarray or None
        Recurrent weights of a ``dense_rec`` layer.
    neuron : NeuronSpec or None
        The neuron group (None for flatten/average and neuron-less layers).
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
    neuron: Optional[NeuronSpec] = None

    @property
    def size(self) -> int:
        """Number of output neurons."""
        return int(np.prod(self.shape))

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
    def is_ternary(self) -> bool:
        """True if any layer uses the TERNARY neuron."""
        return any(layer.is_ternary for layer in self.layers)


class _Reader:
    """Reads one file; every failure becomes a NetxFormatError naming file, layer and key."""

    def __init__(self, path: str, input_shape: Optional[Tuple[int, ...]]):
        self.path = path
        self.input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)

    def fail(self, layer: Optional[int], key: Optional[str], problem: str) -> NetxFormatError:
        return NetxFormatError(self.path, layer, key, problem)

    @staticmethod
    def _text(value: Any) -> str:
        if np.ndim(value) and np.size(value) != 1:
            return ""
        value = np.asarray(value).reshape(-1)[0] if np.ndim(value) else value
        if isinstance(value, np.ndarray):
            value = value.item()
        return value.decode("ascii") if isinstance(value, bytes) else str(value)

    def text(self, group: h5py.Group, key: str, layer: Optional[int], prefix: str = "") -> str:
        if key not in group:
            raise self.fail(layer, prefix + key, "missing")
        value = group[key][()]
        if not isinstance(value, (bytes, str, np.ndarray, np.bytes_, np.str_)) or (
                isinstance(value, np.ndarray) and (value.size != 1 or value.dtype.kind not in "OSU")):
            raise self.fail(layer, prefix + key, f"expected a string, found {value!r}")
        return self._text(value)

    def ints(self, group: h5py.Group, key: str, layer: int, prefix: str = "", required: bool = True,
             ndim: Optional[Tuple[int, ...]] = None) -> Optional[np.ndarray]:
        """An integer-valued dataset as int64 (float storage holding integers is accepted)."""
        if key not in group:
            if required:
                raise self.fail(layer, prefix + key, "missing")
            return None
        if not isinstance(group[key], h5py.Dataset):
            raise self.fail(layer, prefix + key, "expected a dataset, found a group")
        value = np.asarray(group[key][()])
        if value.dtype.kind not in "biuf":
            raise self.fail(layer, prefix + key, f"expected numbers, found dtype {value.dtype}")
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)) or np.any(value != np.round(value)):
                raise self.fail(layer, prefix + key, "expected integer values, found fractions or non-finite values")
        if ndim is not None and value.ndim not in ndim:
            raise self.fail(layer, prefix + key, f"expected {' or '.join(map(str, ndim))}-D, found shape {value.shape}")
        return value.astype(np.int64)

    def scalar(self, group: h5py.Group, key: str, layer: int, prefix: str = "", default: Optional[int] = None,
               lo: Optional[int] = None, hi: Optional[int] = None) -> Optional[int]:
        value = self.ints(group, key, layer, prefix, required=default is None)
        if value is None:
            return default
        if value.size != 1:
            raise self.fail(layer, prefix + key, f"expected one value, found shape {value.shape}")
        value = int(value.reshape(-1)[0])
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(layer, prefix + key, f"value {value} outside {lo}..{hi}")
        return value

    def pair(self, group: h5py.Group, key: str, layer: int, default: Optional[int] = None,
             lo: int = 0) -> Tuple[int, int]:
        value = self.ints(group, key, layer, required=default is None)
        if value is None:
            return (default, default)
        flat = value.reshape(-1)
        if flat.size != 2:  # stock netx indexes both entries
            raise self.fail(layer, key, f"expected two values (H, W), found shape {value.shape}")
        if np.any(flat < lo):
            raise self.fail(layer, key, f"values {flat.tolist()} must be >= {lo}")
        return int(flat[0]), int(flat[1])

    # ---------------------------------------------------------------- neuron
    def neuron(self, group: h5py.Group, layer: int) -> Optional[NeuronSpec]:
        if "neuron" not in group:
            return None
        ngroup = group["neuron"]
        if not isinstance(ngroup, h5py.Group):
            raise self.fail(layer, "neuron", "expected a group")
        ntype = self.text(ngroup, "type", layer, "neuron/")
        params: Dict[str, Any] = {}
        for key, item in ngroup.items():
            if not isinstance(item, h5py.Dataset):
                raise self.fail(layer, f"neuron/{key}", "expected a dataset, found a group")
            value = item[()]
            if isinstance(value, (bytes, np.bytes_)) or (isinstance(value, np.ndarray) and value.dtype.kind in "OSU"):
                params[key] = self._text(value)
            elif isinstance(value, np.ndarray):
                params[key] = value
            else:
                params[key] = value.item() if hasattr(value, "item") else value
        if ntype == "TERNARY":
            self._ternary(ngroup, params, layer)
        elif ntype in ("CUBA", "LOIHI"):
            for key in ("iDecay", "vDecay", "vThMant"):
                self.ints(ngroup, key, layer, "neuron/")
        elif ntype == "SDNN":
            self.ints(ngroup, "vThMant", layer, "neuron/")
        elif "RF" not in ntype:
            raise self.fail(layer, "neuron/type", f"unknown neuron type {ntype!r} (known: TERNARY, "
                                                  f"{', '.join(STOCK_NEURON_TYPES)}, RF variants)")
        return NeuronSpec(ntype, params)

    def _ternary(self, ngroup: h5py.Group, params: Dict[str, Any], layer: int) -> None:
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
            value = self.ints(ngroup, key, layer, "neuron/", required=key != "vInit", ndim=(0, 1))
            value = np.zeros((), np.int64) if value is None else value
            if np.any(value < lo) or np.any(value > hi):
                raise self.fail(layer, f"neuron/{key}", f"values in [{int(value.min())}, {int(value.max())}] "
                                                        f"outside {lo}..{hi}")
            params[key] = int(value.reshape(-1)[0]) if value.size == 1 else value
        if "amplitude" in ngroup:
            amplitude = np.asarray(ngroup["amplitude"][()])
            if amplitude.dtype.kind not in "biuf" or not np.all(np.isfinite(amplitude)) or np.any(amplitude <= 0):
                raise self.fail(layer, "neuron/amplitude", f"expected finite positive numbers, found {amplitude!r}")
            params["amplitude"] = amplitude.astype(np.float64)

    # ---------------------------------------------------------------- layers
    def layer(self, group: h5py.Group, index: int, prev: Optional[Tuple[int, ...]]) -> LayerSpec:
        ltype = self.text(group, "type", index)
        if ltype not in LAYER_TYPES:
            raise self.fail(index, "type", f"unknown layer type {ltype!r} (supported: {', '.join(LAYER_TYPES)})")
        shape_arr = self.ints(group, "shape", index, ndim=(1,))
        if shape_arr.size == 0 or np.any(shape_arr < 1):
            raise self.fail(index, "shape", f"expected positive sizes, found {shape_arr.tolist()}")
        shape = tuple(int(s) for s in shape_arr)
        if prev is None and ltype != "input":
            prev = self.input_shape
        fields: Dict[str, Any] = dict(index=index, type=ltype, shape=shape, input_shape=prev)
        if ltype == "input":
            if prev is not None:
                raise self.fail(index, "type", "an input layer must be the first layer")
        elif ltype == "flatten":
            if prev is None:  # a leading flatten: the network consumes the flattened vector
                prev = fields["input_shape"] = (int(np.prod(shape)),)
            if int(np.prod(shape)) != int(np.prod(prev)):
                raise self.fail(index, "shape", f"flatten of {prev} must have {int(np.prod(prev))} elements, found {shape}")
        elif ltype in ("dense", "dense_rec"):
            fields.update(self._dense(group, index, shape, prev, ltype == "dense_rec"))
        elif ltype in ("conv", "pool"):
            fields.update(self._conv(group, index, shape, prev, ltype == "pool"))
        elif ltype == "average":
            self._need_prev(index, prev)
            size = int(np.prod(shape))
            if int(np.prod(prev)) % size:
                raise self.fail(index, "shape", f"average to {size} outputs must divide the {int(np.prod(prev))} inputs")
        if ltype in ("input", "dense", "dense_rec", "conv", "pool"):
            fields["bias"] = self.ints(group, "bias", index, required=False)
            if ltype != "input" and fields["bias"] is not None and fields["bias"].size not in (shape[0], int(np.prod(shape))):
                raise self.fail(index, "bias", f"expected {shape[0]} (per channel) or {int(np.prod(shape))} values, "
                                               f"found {fields['bias'].size}")
            fields["neuron"] = self.neuron(group, index)
            if "neuron" in group and "weight_exp" in group["neuron"]:
                fields["weight_exp"] = self.scalar(group["neuron"], "weight_exp", index, "neuron/", lo=-8, hi=8)
            if "weightExp" in group:
                fields["weight_exp"] = self.scalar(group, "weightExp", index, lo=-8, hi=8)
            if fields["neuron"] is not None and fields["neuron"].is_ternary:
                self._check_channels(fields["neuron"], shape, index)
        return LayerSpec(**fields)

    def _need_prev(self, index: int, prev: Optional[Tuple[int, ...]]) -> None:
        if prev is None:
            raise self.fail(index, "shape", "the input shape is unknown: the file has no input layer and "
                                            "no input_shape was given (give it: Network(..., input_shape=(W, H, C)), "
                                            "--input-shape C,H,W; lava_ternary.netx.export_hdf5 records it)")

    def _check_channels(self, neuron: NeuronSpec, shape: Tuple[int, ...], index: int) -> None:
        for key in TERNARY_CHANNEL_KEYS:
            value = np.asarray(neuron.params[key])
            if value.ndim == 1 and value.size != shape[0]:
                raise self.fail(index, f"neuron/{key}", f"expected a scalar or {shape[0]} values (one per channel), "
                                                        f"found {value.size}")

    def _weight_range(self, weight: np.ndarray, index: int, key: str) -> None:
        if weight.size and (weight.min() < WEIGHT_MANT_RANGE[0] or weight.max() > WEIGHT_MANT_RANGE[1]):
            raise self.fail(index, key, f"weight mantissas in [{int(weight.min())}, {int(weight.max())}] exceed the "
                                        f"8-bit range {list(WEIGHT_MANT_RANGE)}")

    def _dense(self, group: h5py.Group, index: int, shape: Tuple[int, ...], prev: Optional[Tuple[int, ...]],
               rec: bool) -> Dict[str, Any]:
        if "weight" in group and isinstance(group["weight"], h5py.Group):
            raise self.fail(index, "weight", "complex (real/imag) weights are not supported")
        weight = self.ints(group, "weight", index, ndim=(1, 2))
        out = int(np.prod(shape))
        weight = weight.reshape(out, -1) if weight.ndim == 1 and weight.size % out == 0 else weight
        if weight.ndim != 2 or weight.shape[0] != out:
            raise self.fail(index, "weight", f"expected ({out}, in) for {out} outputs, found {weight.shape}")
        if prev is not None and weight.shape[1] != int(np.prod(prev)):
            raise self.fail(index, "weight", f"{weight.shape[1]} inputs do not match the previous output {prev} "
                                             f"({int(np.prod(prev))} values)")
        for key, expect in (("inFeatures", weight.shape[1]), ("outFeatures", out)):
            value = self.scalar(group, key, index, default=expect)
            if value != expect:
                raise self.fail(index, key, f"{value} does not match the weight shape {weight.shape}")
        self._weight_range(weight, index, "weight")
        fields: Dict[str, Any] = {"weight": weight, "delay": self.ints(group, "delay", index, required=False)}
        if prev is None:
            fields["input_shape"] = (int(weight.shape[1]),)
        if rec:
            weight_rec = self.ints(group, "weight_rec", index, ndim=(1, 2)).reshape(out, -1)
            if weight_rec.shape != (out, out):
                raise self.fail(index, "weight_rec", f"expected ({out}, {out}), found {weight_rec.shape}")
            fields["weight_rec"] = weight_rec
        return fields

    def _conv(self, group: h5py.Group, index: int, shape: Tuple[int, ...], prev: Optional[Tuple[int, ...]],
              pool: bool) -> Dict[str, Any]:
        self._need_prev(index, prev)
        if len(prev) != 3 or len(shape) != 3:
            raise self.fail(index, "shape", f"conv/pool layers need (C, H, W) shapes, found input {prev} and output {shape}")
        weight = self.ints(group, "weight", index, ndim=(4, 5))
        if weight.ndim == 5:
            if weight.shape[4] != 1:
                raise self.fail(index, "weight", f"a 5-D weight must end in 1, found {weight.shape}")
            weight = weight[..., 0]
        kernel = (int(weight.shape[2]), int(weight.shape[3]))
        if "kernelSize" in group and self.pair(group, "kernelSize", index, lo=1) != kernel:
            raise self.fail(index, "kernelSize", f"{self.pair(group, 'kernelSize', index)} does not match the weight {weight.shape}")
        # stock netx reads stride/padding/dilation/groups of a conv without defaults: they are required there
        stride = self.pair(group, "stride", index, default=kernel[0] if pool else None, lo=1)
        if pool and "stride" not in group:
            stride = kernel
        padding = self.pair(group, "padding", index, default=0 if pool else None)
        dilation = self.pair(group, "dilation", index, default=1 if pool else None, lo=1)
        c_in = prev[0]
        if pool:
            groups = c_in
            if weight.shape[:2] != (1, 1) or np.any(weight != weight.reshape(-1)[0]):
                raise self.fail(index, "weight", f"a pool weight must be (1, 1, kH, kW) with one value, found {weight.shape}")
            if shape[0] != c_in:
                raise self.fail(index, "shape", f"pooling keeps the {c_in} channels, found {shape}")
        else:
            groups = self.scalar(group, "groups", index, lo=1)
            if c_in % groups or weight.shape[0] % groups or weight.shape[1] * groups != c_in:
                raise self.fail(index, "weight", f"weight {weight.shape} with groups={groups} does not fit {c_in} "
                                                 "input channels")
            if weight.shape[0] != shape[0]:
                raise self.fail(index, "weight", f"{weight.shape[0]} output channels do not match shape {shape}")
            for key, expect in (("inChannels", c_in), ("outChannels", shape[0])):
                value = self.scalar(group, key, index, default=expect)
                if value != expect:
                    raise self.fail(index, key, f"{value} does not match {expect}")
        out_hw = tuple((prev[1 + a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
                       for a in range(2))
        if tuple(shape[1:]) != out_hw:
            raise self.fail(index, "shape", f"expected output (H, W) = {out_hw} from input {prev}, kernel {kernel}, "
                                            f"stride {stride}, padding {padding}, dilation {dilation}; found {shape[1:]}")
        self._weight_range(weight, index, "weight")
        return {"weight": weight, "kernel_size": kernel, "stride": stride, "padding": padding,
                "dilation": dilation, "groups": groups, "delay": self.ints(group, "delay", index, required=False)}

    def network(self) -> NetSpec:
        if not os.path.exists(self.path):
            raise self.fail(None, None, "no such file")
        try:
            handle = h5py.File(self.path, "r")
        except OSError as exc:
            raise self.fail(None, None, f"not an HDF5 file ({exc})") from None
        with handle:
            if "layer" not in handle or not isinstance(handle["layer"], h5py.Group):
                raise self.fail(None, "layer", "missing the 'layer' group")
            groups = handle["layer"]
            names = sorted(groups.keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
            if not names:
                raise self.fail(None, "layer", "the network has no layers")
            if names != [str(i) for i in range(len(names))]:
                raise self.fail(None, "layer", f"layer groups must be named 0..{len(names) - 1}, found {names}")
            layers = []
            prev: Optional[Tuple[int, ...]] = None
            for i in range(len(names)):
                group = groups[str(i)]
                if not isinstance(group, h5py.Group):
                    raise self.fail(i, None, "expected a group")
                spec = self.layer(group, i, prev)
                layers.append(spec)
                prev = spec.shape
        return NetSpec(path=self.path, layers=tuple(layers))


def read_network(path: Union[str, "os.PathLike[str]"], input_shape: Optional[Tuple[int, ...]] = None) -> NetSpec:
    """Read and validate a netx HDF5 network file.

    Parameters
    ----------
    path : str or path-like
        The ``.net`` / ``.h5`` file.
    input_shape : tuple of int, optional
        Input shape in file order (C, H, W) or (N,), for files whose first layer is not ``input``.
        Without it the first layer's input is inferred from its weights where possible (dense).

    Returns
    -------
    NetSpec
        The layers as plain numpy records.

    Raises
    ------
    NetxFormatError
        For a missing file, a missing/ill-typed/out-of-range key or inconsistent shapes.
    """
    return _Reader(os.fspath(path), input_shape).network()
