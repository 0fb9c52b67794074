"""Check your own model against its netx file: Lava ``fixed_pt`` and the fast simulator, layer by layer.

:func:`verify` runs the model's own ``forward`` (any composition: a ``ModuleList`` with a loop, an
``nn.Sequential``, residual code around the blocks) with forward hooks on its :mod:`lava_ternary.block`
blocks, so it sees every layer's spikes and the input the first block receives (after any padding
the forward adds). It feeds that input to the file on Lava (:func:`lava_ternary.parity.run_lava`) and
on the simulator (:mod:`lava_ternary.sim`) and counts, per layer, the spikes that differ from torch,
and the samples whose predicted class (output spikes summed over time) agrees.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

__all__ = ["verify", "Verification", "LayerCheck"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class LayerCheck:
    """One layer of the file next to the block that produced it in torch.

    Attributes
    ----------
    index : int
        Layer index in the netx file.
    block : str
        The block's name in the model (``named_modules``).
    spikes : int
        Non-zero torch spikes.
    lava, sim : int or None
        Mismatching spikes of Lava / the simulator (None: not run; a voltage readout is never compared).
    """

    index: int
    block: str
    spikes: int
    lava: Optional[int] = None
    sim: Optional[int] = None


@dataclass
class Verification:
    """The result of :func:`verify`: per-layer mismatches and equal predictions."""

    layers: List[LayerCheck]
    samples: int
    lava_equal: Optional[int] = None
    sim_equal: Optional[int] = None
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """True when every compared spike and every compared prediction agrees."""
        counts = [c for layer in self.layers for c in (layer.lava, layer.sim) if c is not None]
        equal = [e for e in (self.lava_equal, self.sim_equal) if e is not None]
        return not any(counts) and all(e == self.samples for e in equal)

    def report(self) -> str:
        """A table of the layers and one line of predictions."""
        def show(value: Optional[int]) -> str:
            return "-" if value is None else str(value)

        lines = [f"{'layer':>5}  {'block':24s} {'torch spikes':>12} {'lava mismatches':>16} {'sim mismatches':>15}"]
        for layer in self.layers:
            lines.append(f"{layer.index:>5}  {layer.block[:24]:24s} {layer.spikes:>12} {show(layer.lava):>16} "
                         f"{show(layer.sim):>15}")
        parts = [f"{name} {equal}/{self.samples}" for name, equal in (("lava", self.lava_equal),
                                                                        ("sim", self.sim_equal)) if equal is not None]
        lines.append("equal predictions: " + (", ".join(parts) if parts else "-"))
        lines.append("EXACT" if self.exact else "MISMATCH")
        return "\n".join(lines)


def _is_block(module: Any) -> bool:
    from lava_ternary import block

    return isinstance(module, (block.AbstractTernary, block.Flatten, block.Average))


def _is_layer(module: Any) -> bool:
    """A block that is a Lava layer of the file (has a neuron; a neuron-less Input, Flatten, Average are not)."""
    return getattr(module, "neuron", None) is not None and not getattr(module, "is_flatten", False)


def torch_trace(model: Any, x: Any) -> tuple:
    """Eval forward of ``model`` on ``x``: ``(first block input, [(name, block, output)...])`` in call order."""
    import torch

    names = {id(m): n for n, m in model.named_modules()} if hasattr(model, "named_modules") else {}
    modules = list(model.modules()) if hasattr(model, "modules") else list(model)
    first: List[torch.Tensor] = []
    outputs: List[tuple] = []

    def before(module, inputs):
        if not first:
            first.append(inputs[0].detach())

    def after(module, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        outputs.append((names.get(id(module), type(module).__name__), module, out.detach()))

    def after_graph(module, inputs, output):
        name = names.get(id(module), type(module).__name__)
        for part, out in zip(("conv1", "conv2"), module.layer_outputs(inputs[0])):
            outputs.append((f"{name}.{part}", module, out.detach()))

    handles = []
    for module in modules:
        if hasattr(module, "layer_outputs"):  # a residual block: one traced layer per neuron group
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after_graph))
        elif _is_block(module):
            handles.append(module.register_forward_pre_hook(before))
            if _is_layer(module):
                handles.append(module.register_forward_hook(after))
    was_training = getattr(model, "training", False)
    try:
        if hasattr(model, "eval"):
            model.eval()
        with torch.no_grad():
            if isinstance(model, (torch.nn.ModuleList, list, tuple)):  # blocks without a forward: in order
                for module in model:
                    x = module(x)
                    x = x[0] if isinstance(x, tuple) else x
            else:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
        if was_training:
            model.train()
    if not first:
        raise ValueError("model: its forward called no lava_ternary block")
    return first[0], outputs


def verify(model: Any, net_file: PathLike, x: Any, *, input_shape: Optional[Sequence[int]] = None,
           skip: int = 0, population: int = 1, lava: bool = True, sim: bool = True) -> Verification:
    """Run ``x`` through ``model`` (torch), through ``net_file`` on Lava ``fixed_pt`` and on the simulator; compare.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (any composition of :mod:`lava_ternary.block` blocks); its ``forward`` is run
        in eval mode, unchanged (a ``ModuleList`` or list of blocks is run in order).
    net_file : str or path-like
        The netx file exported from it (either export path).
    x : torch.Tensor or np.ndarray
        Model input ``(N, C, [H, W], T)``; what reaches the first block must hold integers.
    input_shape : sequence of int, optional
        ``(C, H, W)`` or ``(N,)`` for a file without an input layer; default: the first block's input shape.
    skip : int
        Output steps left out of the predictions (e.g. the model's latency padding).
    population : int
        Output neurons per class.
    lava, sim : bool
        Run Lava / the simulator.

    Returns
    -------
    Verification
        Per-layer mismatching spikes and equal predictions (``.report()`` prints them).
    """
    import torch

    from lava_ternary import parity
    from lava_ternary.netfile import read_network

    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    first, traced = torch_trace(model, x)
    stream = first.cpu().numpy()
    if not np.array_equal(stream, np.round(stream)):
        raise ValueError("x: the first block's input must hold integers (Lava messages are integers)")
    stream = stream.astype(np.int64)
    shape = tuple(int(s) for s in (input_shape if input_shape is not None else stream.shape[1:-1]))
    spec = read_network(net_file, shape)
    file_layers = [layer for layer in spec if layer.kind.builds(layer)]
    if len(file_layers) != len(traced):
        raise ValueError(f"{os.fspath(net_file)}: {len(file_layers)} neuron layers, but the model's forward ran "
                         f"{len(traced)} blocks with neurons ({', '.join(name for name, _, _ in traced)})")
    spiking = [bool(getattr(module, "emits_spikes", True)) for _, module, _ in traced]
    reference = [torch.sign(out).to(torch.int64).cpu().numpy() for _, _, out in traced]
    checks = [LayerCheck(index=layer.index, block=name, spikes=int(np.count_nonzero(ref)) if spikes else 0)
              for layer, (name, _, _), ref, spikes in zip(file_layers, traced, reference, spiking)]
    last = max((i for i, s in enumerate(spiking) if s), default=None)
    result = Verification(layers=checks, samples=int(stream.shape[0]))
    truth = None if last is None else parity.predictions(reference[last], skip, population)
    bits = parity.default_message_bits(stream)
    runs: Dict[str, List[np.ndarray]] = {}
    if lava:
        runs["lava"] = parity.run_lava(net_file, stream, input_message_bits=bits, input_shape=shape).layers
    if sim:
        from lava_ternary import sim as fast

        runs["sim"] = fast.simulate(fast.compile_network(spec), stream, input_message_bits=bits).spikes
    for name, layers in runs.items():
        for check, ours, ref, spikes in zip(checks, layers, reference, spiking):
            if spikes:
                setattr(check, name, int(np.count_nonzero(np.asarray(ours).reshape(ref.shape) != ref)))
        if truth is not None:
            predicted = parity.predictions(np.asarray(layers[last]).reshape(reference[last].shape), skip, population)
            setattr(result, f"{name}_equal", int(np.count_nonzero(predicted == truth)))
    return result
