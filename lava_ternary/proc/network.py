"""The Lava network of a netx file: stock netx ``Network`` extended for TERNARY neurons and pool layers.

Lives in :mod:`lava_ternary.proc` because Lava's model discovery imports every module next to the
module that defines a Process (here: only this small package). Import it as
``lava_ternary.netx.Network``; the behaviour is documented there and in ``docs/netx_schema.md``.

The file is first validated by :func:`lava_ternary.netfile.read_network` (an isolated, bounded parse);
stock netx then reads the validated records through a ``NetDict`` stand-in and never opens the file
itself, so what Lava builds is exactly what the reader (and the simulator) checked. While the stock
``_create`` runs, netx's neuron dispatch (``Network.get_neuron_params``, called by explicit class
name inside netx) is swapped for one that builds :class:`TernaryCUBA` for ``TERNARY`` neurons, and
netx's ``optimize_weight_bits`` for one that accepts all-zero weights; both are restored in
``finally``. ``pool`` layers are presented to the stock code as depthwise convolutions with constant
weights. Everything else (CUBA, SDNN, ... layers) is built by stock netx unchanged.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
from lava.lib.dl.netx import hdf5 as netx_hdf5
from lava.proc.sparse.process import DelaySparse
from scipy.sparse import csr_matrix
from lava.lib.dl.netx.blocks.models import AbstractPyBlockModel
from lava.lib.dl.netx.blocks.process import RecurrentDense
from lava.lib.dl.netx.utils import SYNAPSE_SIGN_MODE
from lava.magma.core.decorator import implements
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_ternary import fixed
from lava_ternary.errors import NetxFormatError
from lava_ternary.netfile import LayerSpec, NetSpec, read_network
from lava_ternary.proc.process import TernaryCUBA

__all__ = ["Network", "ternary_neuron_params"]

PathLike = Union[str, "os.PathLike[str]"]


def ternary_neuron_params(layer: LayerSpec, reset_interval: Optional[int], reset_offset: int) -> Dict[str, Any]:
    """netx ``neuron_params`` for a TERNARY layer: our process, its arguments and the message bits.

    Parameters
    ----------
    layer : LayerSpec
        A validated layer whose neuron is TERNARY.
    reset_interval : int or None
        Sample length in steps (None: never restart).
    reset_offset : int
        Network-level ``reset_offset``; the restart phase is ``reset_offset + 1`` for every layer.
    """
    neuron = layer.neuron.params
    return {"neuron_proc": TernaryCUBA, "bias_key": "bias_mant", "bias_exp": fixed.ACT_SHIFT,
            "i_decay": neuron["iDecay"], "v_decay": neuron["vDecay"], "vth": neuron["vThMant"],
            "v_init": neuron["vInit"], "reset_mode": neuron["resetMode"], "spike_mode": neuron["spikeMode"],
            "reset_interval": reset_interval, "reset_offset": reset_offset + 1,
            "num_message_bits": neuron["messageBits"], "input_delay": neuron_delay(layer)}


def neuron_delay(layer: LayerSpec) -> np.ndarray:
    """Per-neuron axonal delay of a dense layer (netx ``delay``: scalar or one per output), else 0."""
    if layer.inputs is not None:  # a concat layer: its shortcut synapse is delayed (graph extension)
        return np.asarray(layer.shortcut_delay, np.int64)
    delay = layer.delay
    if layer.type != "dense" or delay is None or delay.size not in (1, int(np.prod(layer.shape))):
        return np.zeros((), np.int64)
    return np.clip(delay, 0, 62).astype(np.int64).reshape(-1 if delay.size > 1 else ())


def _optimize_weight_bits(weight: np.ndarray):
    """netx's ``optimize_weight_bits``, except that all-zero weights (an OverflowError there) pass unchanged."""
    if not np.any(weight):
        return np.zeros_like(weight), 8, 0, SYNAPSE_SIGN_MODE.MIXED
    return _STOCK_OPTIMIZE(weight)


_STOCK_OPTIMIZE = netx_hdf5.optimize_weight_bits
_STOCK_NEURON_PARAMS = netx_hdf5.Network.get_neuron_params
_STOCK_NET_DICT = netx_hdf5.NetDict


class _Node:
    """A stand-in for netx's ``NetDict`` that serves validated values of a :class:`NetSpec`.

    Stock netx reads every key through ``NetDict`` (``'type'`` as str, weights and bias as int arrays,
    other keys as stored); this node gives it the same types from the validated records, so stock netx
    never opens the file itself. ``f`` and ``name`` stand in for the h5py object netx and the neuron
    dispatch look at.
    """

    COPY_KEYS = ("weight", "weight_rec", "bias")

    def __init__(self, name: str, values: Dict[str, Any]):
        self.name, self._values = name, values
        self.f = self

    def keys(self):
        return self._values.keys()

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def __getitem__(self, key: Union[str, int]) -> Any:
        value = self._values[str(key)]
        if key in self.COPY_KEYS:
            return np.asarray(value).astype(int).copy()
        return value


def _value(value: Any) -> Any:
    """A validated value as stock netx gets it from h5py: numpy scalars for 0-d data, arrays otherwise."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    return value


def _layer_node(layer: LayerSpec) -> _Node:
    """The ``layer/<i>`` group of a validated layer (a pool shown as a depthwise conv with constant weights)."""
    name = f"/layer/{layer.index}"
    kind = "conv" if layer.type in ("pool", "concat") else layer.type  # concat: its main synapse; shortcut added after
    values: Dict[str, Any] = {"type": kind, "shape": np.array(layer.shape)}
    for key in ("weight", "weight_rec", "bias", "delay"):
        if getattr(layer, key) is not None:
            values[key] = _value(getattr(layer, key))
    if layer.delay is not None and not np.any(layer.delay):
        del values["delay"]  # all-zero delays: a plain Dense, as the simulator runs it
    if layer.type in ("conv", "pool", "concat"):
        if layer.bias is not None and layer.bias.size != layer.channels:  # per neuron: netx wants (W, H, C)
            values["bias"] = layer.bias.reshape(layer.shape).transpose(2, 1, 0)
        weight = layer.weight
        if layer.type == "pool":
            weight = np.broadcast_to(weight, (layer.channels, 1) + layer.kernel_size).astype(np.int64).copy()
        values.update(weight=weight, groups=np.int64(layer.groups), stride=np.array(layer.stride),
                      padding=np.array(layer.padding), dilation=np.array(layer.dilation))
    if layer.neuron is not None:
        params = {key: _value(value) for key, value in layer.neuron.params.items()}
        values["neuron"] = _Node(f"{name}/neuron", params)
    return _Node(name, values)


def _root_node(spec: NetSpec) -> _Node:
    layers = {str(layer.index): _layer_node(layer) for layer in spec}
    return _Node("/", {"layer": _Node("/layer", layers)})


#: Layer types stock netx builds into a Lava layer (``pool`` and ``concat`` are shown to it as ``conv``).
BUILT_TYPES = ("input", "dense", "dense_rec", "conv", "pool", "concat")


def shortcut_matrix(layer: LayerSpec, source_shape: Tuple[int, ...]) -> csr_matrix:
    """The 1x1 shortcut convolution of a ``concat`` layer as a sparse ``(N_out, N_in)`` matrix in Lava's order.

    Both sides are flattened C-order from Lava's (W, H, C) shapes, as ``OutPort.flatten`` and
    ``reshape`` see them.
    """
    c_out, c_in = layer.shortcut_weight.shape[:2]
    height, width = layer.shape[1:]
    src_h = source_shape[1]
    stride_h, stride_w = layer.shortcut_stride
    x, y, co, ci = np.meshgrid(np.arange(width), np.arange(height), np.arange(c_out), np.arange(c_in), indexing="ij")
    rows = ((x * height + y) * c_out + co).reshape(-1)
    cols = ((x * stride_w * src_h + y * stride_h) * c_in + ci).reshape(-1)
    data = layer.shortcut_weight[co, ci, 0, 0].reshape(-1)
    keep = data != 0
    size_in = int(np.prod(source_shape))
    return csr_matrix((data[keep], (rows[keep], cols[keep])), shape=(layer.size, size_in), dtype=np.int64)


class Network(netx_hdf5.Network):
    """netx ``Network`` that also builds TERNARY neurons and pool layers, after validating the file.

    Same constructor arguments and ports (``inp``, ``out``) as
    :class:`lava.lib.dl.netx.hdf5.Network`; a stock file (CUBA, SDNN) builds exactly what stock netx
    builds. ``input_message_bits`` must cover the direct input (e.g. 6 for digits pixels 0..16,
    more for signed or larger values); TERNARY layers report ``messageBits`` (>= 2) so the next
    Dense/Conv takes the graded, signed path.

    Parameters
    ----------
    net_config : str or path-like
        netx HDF5 file.
    num_layers, skip_layers, input_message_bits, input_shape, reset_interval, reset_offset, spike_exp, sparse_fc_layer
        As for :class:`lava.lib.dl.netx.hdf5.Network` (``input_shape`` in (x, y, f) = WHC order).
        TERNARY layers restart together (see the module docstring); stock layers keep netx's
        per-layer reset offsets.

    Attributes
    ----------
    spec : NetSpec
        The validated file contents (:func:`lava_ternary.netfile.read_network`).

    Raises
    ------
    NetxFormatError
        For a file that fails validation (missing, not HDF5, a hostile or corrupted file, bad keys, values
        out of range, bad shapes) or that netx cannot build from; stock netx never sees such a file.
    """

    def __init__(self, net_config: PathLike, num_layers: Optional[int] = None, skip_layers: int = 0,
                 input_message_bits: Optional[int] = 0, input_shape: Optional[Tuple[int, ...]] = None,
                 reset_interval: Optional[int] = None, reset_offset: int = 0, spike_exp: int = 6,
                 sparse_fc_layer: bool = False) -> None:
        path = os.fspath(net_config)
        chw = None if input_shape is None else tuple(int(s) for s in input_shape)[::-1]
        self.spec = read_network(path, chw)  # isolated, bounded parse; stock netx never opens the file
        self._shortcuts = []
        root = _root_node(self.spec)
        netx_hdf5.NetDict = lambda filename=None, mode="r", f=None: root
        try:
            super().__init__(net_config=path, num_layers=num_layers, skip_layers=skip_layers,
                             input_message_bits=input_message_bits, input_shape=input_shape,
                             reset_interval=reset_interval, reset_offset=reset_offset, spike_exp=spike_exp,
                             sparse_fc_layer=sparse_fc_layer)
        finally:
            netx_hdf5.NetDict = _STOCK_NET_DICT

    def __del__(self) -> None:
        if hasattr(self, "_runtime"):  # a file that failed validation never made a Lava process
            super().__del__()

    def _create(self):
        limit = len(self.spec) if self.num_layers is None else min(len(self.spec), self.num_layers)
        for layer in self.spec.layers[:limit]:
            if layer.type == "average":
                raise NetxFormatError(self.filename, layer.index, "type",
                                      f"an average readout has no Lava layer; load with num_layers={layer.index} "
                                      "and sum the previous layer's spikes per class (population readout)")
            if layer.weight_exp != 0:
                raise NetxFormatError(self.filename, layer.index, "weightExp",
                                      f"weight exponent {layer.weight_exp} is not supported by the Lava loader")
        by_group = {f"/layer/{layer.index}/neuron": layer for layer in self.spec if layer.is_ternary}
        interval, offset = self.reset_interval, self.reset_offset

        def neuron_params(neuron_config, input=False, reset_interval=None, reset_offset=0, spike_exp=6):
            name = getattr(getattr(neuron_config, "f", None), "name", None)
            if name in by_group:
                return ternary_neuron_params(by_group[name], interval, offset)
            return _STOCK_NEURON_PARAMS(neuron_config, input=input, reset_interval=reset_interval,
                                        reset_offset=reset_offset, spike_exp=spike_exp)

        netx_hdf5.Network.get_neuron_params = staticmethod(neuron_params)
        netx_hdf5.optimize_weight_bits = _optimize_weight_bits
        try:
            layers = super()._create()
        finally:
            netx_hdf5.Network.get_neuron_params = staticmethod(_STOCK_NEURON_PARAMS)
            netx_hdf5.optimize_weight_bits = _STOCK_OPTIMIZE
        if not layers:
            raise NetxFormatError(self.filename, None, "layer", "no Lava layer to build (only input/flatten layers)")
        for block in layers:  # lava-dl #372: the recurrent synapse carries the layer's own spikes, not its input's
            if isinstance(block, RecurrentDense):
                block.synapse_rec.num_message_bits.init = block.output_message_bits
        self._connect_shortcuts(layers, limit)
        return layers

    def _connect_shortcuts(self, layers, limit: int) -> None:
        """Graph extension: a delayed sparse synapse from each ``concat`` layer's shortcut source into its neurons.

        The neuron group's InPort sums it with the block's own synapse (Lava sums every OutPort connected to
        an InPort), so both branches drive one neuron group, as on Loihi 2.
        """
        built = [layer.index for layer in self.spec.layers[:limit] if layer.index >= self.skip_layers
                 and layer.type in BUILT_TYPES and not (layer.type == "input" and layer.neuron is None)]
        blocks = dict(zip(built, layers))
        for layer in self.spec.layers[:limit]:
            if layer.inputs is None or layer.index not in blocks:
                continue
            source = blocks.get(layer.inputs[1])
            if source is None:
                raise NetxFormatError(self.filename, layer.index, "inputs", f"shortcut source layer {layer.inputs[1]} "
                                      f"is not built (skip_layers={self.skip_layers}); load the whole graph")
            weights = shortcut_matrix(layer, self.spec.layers[layer.inputs[1]].shape)
            if weights.nnz == 0:
                continue  # an all-zero shortcut adds nothing
            delays = weights.copy()
            delays.data[:] = layer.shortcut_delay
            target = blocks[layer.index].neuron
            bits = self.spec.layers[layer.inputs[1]].neuron.message_bits
            synapse = DelaySparse(weights=weights, delays=delays, num_message_bits=bits, weight_exp=0,
                                  num_weight_bits=8, name=f"shortcut{layer.index}")
            source.out.flatten().connect(synapse.s_in)
            synapse.a_out.reshape(target.a_in.shape).connect(target.a_in)
            self._shortcuts.append(synapse)


@implements(proc=Network, protocol=LoihiProtocol)
class PyTernaryNetworkModel(AbstractPyBlockModel):
    """The hierarchical model of :class:`Network` (Lava matches models by exact process type)."""
