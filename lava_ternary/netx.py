"""netx HDF5 export of ternary networks and the Lava loader that runs them (``Network``).

* :func:`export_hdf5` writes every block's ``layer/<i>`` group with the block's own ``export_hdf5``
  (so lava-dl's per-block loop writes the same bytes), atomically, then checks what Loihi cannot
  represent. It never changes the model: each block already trains on the folded, 8-bit weights it
  exports (:mod:`lava_ternary.fold`). The only addition is a neuron-less ``input`` layer in front of a
  leading conv/pool block (its input shape); a file written by the per-block loop lacks it and loads
  with ``Network(..., input_shape=...)`` or ``lava-ternary run --input-shape``.
* :class:`Network` (defined in :mod:`lava_ternary.proc.network`) is
  :class:`lava.lib.dl.netx.hdf5.Network` extended, not copied: it validates the file with
  :func:`lava_ternary.netfile.read_network`, builds :class:`lava_ternary.proc.TernaryCUBA` for
  ``TERNARY`` neurons, pool layers as depthwise convolutions, and everything else as stock netx.

Timing (TERNARY layers): with ``reset_interval=T`` every TERNARY neuron restarts at the steps
``t`` (from 1) with ``t % T == (reset_offset + 1) % T``; that step discards its input and sends 0,
the image of slayer's ``delay_shift`` (a block's output at time 0 is 0). Feeding sample ``n`` as
steps ``n*T + 1 .. n*T + T`` (a RingBuffer over the concatenated samples), every layer's output at
step ``n*T + 1 + j`` equals the torch block's output ``y[n, ..., j]``: the per-layer latency shift is
zero. See ``docs/netx_schema.md``.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from lava_ternary import fixed
from lava_ternary.errors import RangeError
from lava_ternary.io_utils import atomic_path
from lava_ternary.netfile import NetSpec, read_network
from lava_ternary.proc.network import Network

__all__ = ["Network", "export_hdf5", "check_ranges"]


PathLike = Union[str, "os.PathLike[str]"]


def _blocks(net: Any) -> Sequence[Any]:
    blocks = getattr(net, "blocks", net)
    try:
        return list(blocks)
    except TypeError:
        raise ValueError(f"net: expected a module with .blocks or a sequence of blocks, got {type(net).__name__}") \
            from None


def check_ranges(spec: NetSpec) -> None:
    """Raise :class:`RangeError` for what a Loihi 2 neuron cannot hold without wrapping.

    Checks, per TERNARY layer after the first weighted one: the worst-case synaptic input of one
    step, ``max_row sum |W| << 6`` over every synapse group into the neuron (``|W| + |W_rec|`` for a
    recurrent layer, plus the shortcut of a graph layer: ``LayerKind.worst_input``), must stay inside the
    24-bit current (ternary inputs are at most 1 in magnitude), and bias mantissas must fit 13 bits
    signed. Threshold, decay and weight ranges are checked by the reader itself.
    """
    seen_weighted = False
    for layer in spec:
        if layer.weight is None:
            continue
        if layer.bias is not None and np.any(np.abs(layer.bias) > 4095):
            raise RangeError(f"layer {layer.index}: bias mantissa {int(np.abs(layer.bias).max())} exceeds the "
                             f"13-bit range (|bias| <= 4095)")
        if seen_weighted and layer.is_ternary:
            worst = layer.kind.worst_input(layer)
            if worst << fixed.ACT_SHIFT >= fixed.MAX_STATE:
                raise RangeError(f"layer {layer.index}: worst-case synaptic input {worst} (x64 = "
                                 f"{worst << fixed.ACT_SHIFT}) overflows the 24-bit current (< {fixed.MAX_STATE})")
        seen_weighted = True


def export_hdf5(net: Any, filename: PathLike) -> NetSpec:
    """Export a network of blocks to a netx HDF5 file (atomic) and return the validated contents.

    Parameters
    ----------
    net : torch.nn.Module or sequence
        A module with a ``blocks`` attribute (``ModuleList``), an ``nn.Sequential`` or a plain sequence of
        blocks, each with ``export_hdf5(group)``. Works right after ``load_state_dict`` (no forward pass
        needed: unknown shapes are inferred on a copy, :func:`lava_ternary.block.propagate_shapes`). Nothing
        in ``net`` is modified.
    filename : str or path-like
        Target file; replaced atomically, never left half-written.

    Raises
    ------
    RangeError
        A threshold, weight, bias or state range that Loihi cannot represent (names layer and value).
    """
    blocks = _blocks(net)
    if not blocks:
        raise ValueError("net: no blocks to export")
    if any(getattr(b, "known_shape", True) is None for b in blocks):
        from lava_ternary.block import propagate_shapes  # torch only when a shape must be inferred

        blocks = copy.deepcopy(blocks)  # fill the shapes of a copy: export leaves the model as it is
        propagate_shapes(blocks)
    lead_shape = _leading_input_shape(blocks[0])
    with atomic_path(filename) as tmp:
        with h5py.File(tmp, "w") as handle:
            group = handle.create_group("layer")
            index = 0
            if lead_shape is not None:
                _write_input_shape(group.create_group("0"), lead_shape)
                index = 1
            for block in blocks:
                if hasattr(block, "export_layers"):  # a residual block: several layers, a graph
                    index = block.export_layers(group, index)
                else:
                    block.export_hdf5(group.create_group(str(index)))
                    index += 1
        _check_raw_ranges(tmp)
        spec = read_network(tmp)
        check_ranges(spec)
    return NetSpec(path=os.fspath(filename), layers=spec.layers)


def _leading_input_shape(first: Any) -> Optional[Tuple[int, ...]]:
    """(C, H, W) input of a leading conv/pool block: netx needs it as a neuron-less ``input`` layer."""
    if not isinstance(getattr(first, "synapse", None), torch_conv_types()):
        return None
    shape = getattr(first, "input_shape", None) or getattr(first, "_input_shape", None)
    if shape is None:
        raise ValueError(f"net: the first block ({type(first).__name__}) does not know its input shape; "
                         f"build it with input_shape=(C, H, W)")
    return tuple(int(s) for s in shape)


def torch_conv_types() -> tuple:
    """slayer synapse classes whose input needs a (C, H, W) shape in the file."""
    from lava.lib.dl.slayer.synapse import layer

    return (layer.Conv, layer.Pool)


def _write_input_shape(handle: h5py.Group, shape: Tuple[int, ...]) -> None:
    """A neuron-less netx ``input`` layer: it only declares the input shape (C, H, W)."""
    handle.create_dataset("type", (1,), "S10", [b"input"])
    handle.create_dataset("shape", data=np.array(shape, dtype=np.int64))


def _check_raw_ranges(path: os.PathLike) -> None:
    """Turn out-of-range thresholds and weights of a freshly written file into RangeError (not format errors)."""
    with h5py.File(path, "r") as handle:
        for name, group in handle["layer"].items():
            neuron = group.get("neuron")
            if neuron is not None and "vThMant" in neuron:
                vth = np.asarray(neuron["vThMant"][()])
                if np.any(vth < 1) or np.any(vth > fixed.MAX_VTH_MANT):
                    raise RangeError(f"layer {name}: threshold mantissa vThMant={vth.tolist()} outside "
                                     f"1..{fixed.MAX_VTH_MANT} (threshold x64 must fit 17 bits)")
            for key in ("weight", "weight_rec"):
                if key in group and isinstance(group[key], h5py.Dataset):
                    weight = np.asarray(group[key][()])
                    if weight.size and (weight.min() < -256 or weight.max() > 254):
                        raise RangeError(f"layer {name}: {key} mantissas in [{weight.min():g}, {weight.max():g}] "
                                         f"exceed the 8-bit range [-256, 254]")
