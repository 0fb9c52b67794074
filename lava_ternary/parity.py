"""Run a netx network on the Lava CPU simulator back to back, and compare it spike for spike with torch.

Timing convention (see :mod:`lava_ternary.netx` and ``docs/netx_schema.md``): samples of ``T``
steps are fed one after the other as steps ``n*T + 1 .. n*T + T`` with ``reset_interval=T``; the
spikes every layer sends at step ``n*T + 1 + j`` are the torch block's output ``y[n, ..., j]``
(slayer ``delay_shift`` included), so after reshaping the sink buffers to ``(N, C, [H, W], T)``
Lava and torch are compared index for index: the per-layer latency shift is zero for TERNARY layers.

:func:`run_lava` is the package's one Lava runner (it needs no torch); with ``phases`` it cuts stock
layers at their own reset phases, as the fast simulator's reference does (:mod:`lava_ternary.sim.reference`).
:func:`torch_layer_outputs` and :func:`compare` take torch outputs.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from lava_ternary import readout
from lava_ternary.lava_session import lava_session

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class LavaRun:
    """The result of :func:`run_lava`.

    Attributes
    ----------
    layers : list of np.ndarray
        Per Lava layer, the spikes (int64) as ``(N, C, T)`` or ``(N, C, H, W, T)`` (torch order).
    layer_index : list of int
        The file's layer index of each entry of ``layers``.
    build_s : float
        Wall time to build the network and its I/O processes.
    compile_s : float
        Wall time to compile and run the first step.
    run_s : float
        Wall time to run the remaining ``steps - 1`` steps.
    steps : int
        Number of simulated steps (``N * T``, plus the zero steps that complete shifted windows).
    voltage : dict of int to np.ndarray
        With ``voltage=True``: per file index of a layer without a neuron group (netx builds netx's
        default integrator there), its voltage ``v`` at the end of every step, cut like ``layers``.
    """

    layers: List[np.ndarray]
    layer_index: List[int]
    build_s: float
    compile_s: float
    run_s: float
    steps: int
    voltage: Dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        """The last layer's spikes."""
        return self.layers[-1]

    def predictions(self, skip: int = 0, population: int = 1) -> np.ndarray:
        """Predicted class per sample (see :func:`predictions`)."""
        return predictions(self.output, skip, population)


@dataclass
class Comparison:
    """Spike-for-spike comparison of Lava and torch (:func:`compare`)."""

    mismatches: List[int]
    spikes: List[int]
    classes_equal: int
    samples: int
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def total_mismatches(self) -> int:
        """Mismatching spikes summed over layers."""
        return int(sum(self.mismatches))

    @property
    def exact(self) -> bool:
        """True when every spike of every layer and every predicted class agree."""
        return self.total_mismatches == 0 and self.classes_equal == self.samples


predictions = readout.predictions  # the one readout (lava_ternary.readout)


def _to_lava(x: np.ndarray) -> np.ndarray:
    """``(N, C, [H, W], T)`` to the Lava stream ``(C,)`` or ``(W, H, C)`` by ``N*T`` steps."""
    n, steps = x.shape[0], x.shape[-1]
    if x.ndim == 3:
        return np.moveaxis(x, 0, -2).reshape(x.shape[1], n * steps)
    if x.ndim == 5:
        return np.transpose(x, (3, 2, 1, 0, 4)).reshape(x.shape[3], x.shape[2], x.shape[1], n * steps)
    raise ValueError(f"inputs: expected (N, C, T) or (N, C, H, W, T), got shape {x.shape}")


def _from_lava(data: np.ndarray, samples: int, steps: int) -> np.ndarray:
    """A sink buffer ``(C, N*T)`` or ``(W, H, C, N*T)`` to ``(N, C, T)`` / ``(N, C, H, W, T)``."""
    data = data.reshape(data.shape[:-1] + (samples, steps))
    if data.ndim == 3:
        return np.moveaxis(data, 1, 0)
    return np.transpose(data, (3, 2, 1, 0, 4))


def default_message_bits(inputs: np.ndarray) -> int:
    """Bits that carry integer ``inputs`` as graded messages (sign bit included when negative)."""
    peak = int(np.abs(inputs).max()) if inputs.size else 0
    return max(1, peak.bit_length()) + int(bool(np.any(inputs < 0)))


def run_lava(net_file: PathLike, inputs: np.ndarray, *, tag: str = "fixed_pt", neuron_tag: Optional[str] = None,
             input_message_bits: Optional[int] = None, phases: Optional[Sequence[int]] = None,
             chunk: Optional[int] = None, progress: bool = False, hardware: bool = False,
             input_shape: Optional[Sequence[int]] = None, network: Optional[Callable[..., Any]] = None,
             num_layers: Optional[int] = None, voltage: bool = False) -> LavaRun:
    """Run ``inputs`` back to back through a netx file on ``Loihi2SimCfg``; return every layer's spikes.

    This is the one Lava runner of the package: the parity checks against torch, ``deploy/run_lava.py``,
    ``deploy/run_loihi.py`` and the simulator's reference (:func:`lava_ternary.sim.reference.run_lava`)
    all call it.

    Parameters
    ----------
    net_file : str or path-like
        netx HDF5 file (read with :class:`lava_ternary.netx.Network`).
    inputs : np.ndarray
        Integer input ``(N, C, T)`` or ``(N, C, H, W, T)`` (torch order), sent as graded messages
        to the first layer's synapse. For a file whose first layer is an ``input`` layer with a
        neuron, ``inputs`` are that neuron's synaptic input ``a_in`` (mantissa units), fed one step late.
    tag : str
        ``select_tag`` of the run config (netx blocks exist only as ``fixed_pt``).
    neuron_tag : str, optional
        Model tag for the TERNARY neurons only (e.g. ``'floating_pt'``); default ``tag``.
    input_message_bits : int, optional
        Message bits of the input (0: Lava casts it to bool); default from the input range
        (:func:`default_message_bits`).
    phases : sequence of int, optional
        Per Lava layer, the step at which its sample windows start: sample ``n`` of that layer is the
        recorded steps ``n*T + 1 + phase .. n*T + T + phase`` (stock ``LIFReset`` layers restart at
        netx's staggered offsets, see :func:`lava_ternary.sim.default_timing`). The run is extended
        by ``max(phases)`` zero steps so every window is complete. Default 0 for every layer (torch's
        layout, which :func:`compare` expects).
    chunk : int, optional
        Steps per ``run`` call after the first step (progress granularity); default all at once.
    progress : bool
        Show a tqdm progress bar.
    hardware : bool
        Use ``Loihi2HwCfg`` (needs Intel's Loihi 2 extension and a board; see ``deploy/run_loihi.py``).
    input_shape : sequence of int, optional
        ``(C, H, W)`` or ``(N,)`` (torch order) for a file without an ``input`` layer whose first layer
        needs it (a conv written by lava-dl's per-block export loop).
    network : callable, optional
        The netx ``Network`` class to build: :class:`lava_ternary.netx.Network` (default) or stock
        :class:`lava.lib.dl.netx.hdf5.Network` (the reference the package is checked against).
    num_layers : int, optional
        ``num_layers`` of the ``Network``: build only the file's first ``num_layers`` layers (e.g. to
        leave out an ``average`` readout, which netx does not build).
    voltage : bool
        Also record the voltage of every layer without a neuron group (:attr:`LavaRun.voltage`).

    Returns
    -------
    LavaRun
        Every layer's spikes, cut into sample windows, and the wall times.
    """
    import lava_ternary  # noqa: F401  (Python 3.11 fix before lava is imported)
    from lava.lib.dl.netx.blocks.process import Input

    if network is None:
        from lava_ternary.netx import Network as network

    inputs = np.asarray(inputs)
    if inputs.dtype.kind == "f" and np.any(inputs != np.round(inputs)):
        raise ValueError("inputs: Lava takes integer inputs; quantise them first")
    inputs = inputs.astype(np.int64)
    samples, steps = inputs.shape[0], inputs.shape[-1]
    bits = default_message_bits(inputs) if input_message_bits is None else int(input_message_bits)
    start = time.perf_counter()
    whc = None if input_shape is None else tuple(int(s) for s in input_shape)[::-1]
    net = network(os.fspath(net_file), num_layers=num_layers, input_message_bits=bits, reset_interval=steps,
                  reset_offset=0, input_shape=whc)
    built = lava_layers(net_file, num_layers, input_shape)[:len(net.layers)]
    phases = [0] * len(net.layers) if phases is None else [int(p) for p in phases]
    if len(phases) != len(net.layers) or min(phases) < 0:
        raise ValueError(f"phases: expected {len(net.layers)} values >= 0 (one per Lava layer), got {phases}")
    if inputs.ndim == 5 and len(net.inp.shape) == 1:  # a dense-first net takes the torch flatten of (C, H, W)
        inputs = inputs.reshape(samples, -1, steps)
    # the input neuron integrates its a_in in the same step (no synapse buffer): one step later
    direct = int(isinstance(net.layers[0], Input))
    target = net.layers[0].neuron.a_in if direct else net.inp
    total = samples * steps + max(phases)
    data = _to_lava(inputs)
    if tuple(data.shape[:-1]) != tuple(target.shape):
        raise ValueError(f"inputs: sample shape {inputs.shape[1:-1]} does not fit the network input "
                         f"{tuple(target.shape)} (Lava order)")
    stream = np.zeros(data.shape[:-1] + (total,), np.int64)
    stream[..., direct:direct + samples * steps] = data[..., :total - direct]
    probes = {index: layer for (index, has_neuron), layer in zip(built, net.layers) if voltage and not has_neuron}
    recorded, volts, build_s, compile_s, run_s = _run(net, stream, target, start, tag=tag, neuron_tag=neuron_tag,
                                                      chunk=chunk, progress=progress, hardware=hardware, probes=probes)
    log.info("lava: %d steps in %.2f s (build %.2f s, first step %.2f s)", total, run_s, build_s, compile_s)
    phase_of = {index: p for (index, _), p in zip(built, phases)}
    layers = [_from_lava(d[..., p:p + samples * steps].astype(np.int64), samples, steps)
              for d, p in zip(recorded, phases)]
    volts = {index: _from_lava(v[..., phase_of[index]:phase_of[index] + samples * steps], samples, steps)
             for index, v in volts.items()}
    return LavaRun(layers=layers, layer_index=[index for index, _ in built], build_s=build_s, compile_s=compile_s,
                   run_s=run_s, steps=total, voltage=volts)


def lava_layers(net_file: PathLike, num_layers: Optional[int] = None,
                input_shape: Optional[Sequence[int]] = None) -> List[Tuple[int, bool]]:
    """``(file index, has a neuron group)`` of every layer netx builds into a Lava layer, in order.

    The layer kinds say which layers netx builds (an ``input`` layer only with a neuron group; ``flatten``,
    ``average`` and other readouts are not layers).
    """
    from lava_ternary.netfile import read_network

    shape = None if input_shape is None else tuple(int(s) for s in input_shape)
    layers = read_network(net_file, shape).layers[:num_layers]
    return [(layer.index, layer.neuron is not None) for layer in layers if layer.kind.builds(layer)]


def _run(net: Any, stream: np.ndarray, target: Any, start: float, *, tag: str, neuron_tag: Optional[str],
         chunk: Optional[int], progress: bool, hardware: bool, probes: Optional[Dict[int, Any]] = None
         ) -> Tuple[List[np.ndarray], Dict[int, np.ndarray], float, float, float]:
    """Feed ``stream`` into ``target``, record every layer of ``net``; the recordings and the wall times.

    ``start`` is when building began; ``probes`` maps keys to layers whose neuron voltage is also
    recorded (a Lava ``Monitor``). Returns ``(recorded, voltages, build_s, compile_s, run_s)`` with
    ``compile_s`` the first step (compilation included) and ``run_s`` the remaining steps; recordings and
    voltages are in Lava order, ``shape + (steps,)``.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    from lava_ternary.proc import TernaryCUBA
    from lava_ternary.proc import models
    from lava_ternary.proc.recorder import SpikeRecorder

    total = stream.shape[-1]
    source = Source(data=stream)
    source.s_out.connect(target)
    folder = tempfile.mkdtemp(prefix="lava-ternary-run-")
    try:
        sinks = []
        for index, layer in enumerate(net.layers):
            sink = SpikeRecorder(shape=layer.out.shape, steps=total, path=os.path.join(folder, f"layer{index}.npy"))
            layer.out.connect(sink.a_in)
            sinks.append(sink)
        monitors = {}
        for key, layer in (probes or {}).items():
            monitors[key] = Monitor()
            monitors[key].probe(layer.neuron.v, total)
        build_s = time.perf_counter() - start
        exceptions = {}
        if neuron_tag is not None and neuron_tag != tag:
            exceptions[TernaryCUBA] = {"fixed_pt": models.PyTernaryCUBAModelFixed,
                                       "floating_pt": models.PyTernaryCUBAModelFloat}[neuron_tag]
        run_cfg = (Loihi2HwCfg if hardware else Loihi2SimCfg)(select_tag=tag, exception_proc_model_map=exceptions)
        step = total if chunk is None else max(1, int(chunk))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="step", desc="lava")
        try:
            with lava_session(net) as interrupts:
                done, compile_s = 0, 0.0
                start = time.perf_counter()
                while done < total:
                    n = 1 if done == 0 else min(step, total - done)
                    net.run(condition=RunSteps(num_steps=n), run_cfg=run_cfg)
                    interrupts.check()
                    done += n
                    if done == 1:
                        compile_s, start = time.perf_counter() - start, time.perf_counter()
                    if bar is not None:
                        bar.update(n)
                run_s = time.perf_counter() - start
                volts = {key: _monitored(monitor) for key, monitor in monitors.items()}
        finally:
            if bar is not None:
                bar.close()
        return [sink.read() for sink in sinks], volts, build_s, compile_s, run_s
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _monitored(monitor: Any) -> np.ndarray:
    """The one Var a ``Monitor`` probed, as int64 ``shape + (steps,)`` (read before the runtime stops)."""
    (data,) = monitor.get_data().values()
    (values,) = data.values()
    return np.moveaxis(np.rint(np.asarray(values)).astype(np.int64), 0, -1)


def torch_layer_outputs(blocks: Sequence[Any], x: Any) -> List[np.ndarray]:
    """Eval forward through ``blocks``; the ternary spikes ``sign(y)`` of every block that is a Lava layer.

    Flatten, Average and neuron-less Input blocks pass their output on but are not Lava layers; a block with
    ``layer_outputs`` (a residual block) gives one output per neuron group.
    """
    import torch

    outputs = []
    with torch.no_grad():
        for block in blocks:
            if hasattr(block, "layer_outputs"):  # a residual block: one Lava layer per neuron group
                layers = block.layer_outputs(x)
                outputs += [torch.sign(y).to(torch.int64).cpu().numpy() for y in layers]
                x = layers[-1]
                continue
            x = block(x)
            if isinstance(x, tuple):
                x = x[0]
            if getattr(block, "is_flatten", False) or getattr(block, "neuron", None) is None:
                continue
            outputs.append(torch.sign(x).to(torch.int64).cpu().numpy())
    return outputs


def compare(lava: LavaRun, torch_outputs: Sequence[np.ndarray], skip: int = 0, population: int = 1) -> Comparison:
    """Count mismatching spikes per layer and equal predicted classes (:func:`predictions`)."""
    if len(torch_outputs) != len(lava.layers):
        raise ValueError(f"torch_outputs: {len(torch_outputs)} layers, Lava ran {len(lava.layers)}")
    mismatches, spikes = [], []
    for index, (ours, ref) in enumerate(zip(lava.layers, torch_outputs)):
        ref = np.asarray(ref).reshape(ours.shape) if np.asarray(ref).size == ours.size else np.asarray(ref)
        if ref.shape != ours.shape:
            raise ValueError(f"layer {lava.layer_index[index]}: torch shape {ref.shape} vs Lava {ours.shape}")
        mismatches.append(int(np.count_nonzero(ours != ref)))
        spikes.append(int(np.count_nonzero(ref)))
    ref_out = np.asarray(torch_outputs[-1]).reshape(lava.output.shape)
    equal = int(np.count_nonzero(predictions(ref_out, skip, population) == lava.predictions(skip, population)))
    return Comparison(mismatches=mismatches, spikes=spikes, classes_equal=equal, samples=int(ref_out.shape[0]),
                      details={"layer_index": list(lava.layer_index)})
