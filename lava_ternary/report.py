"""Per-layer activity, operation counts, energy per inference and a Loihi fit estimate of a netx network.

The activity comes from the batched simulator (:mod:`lava_ternary.sim`), so the counts are those of
the deployed integer network. Conventions (all constants live in :mod:`lava_ternary.hardware`):

* a *synaptic operation* (SOP) is one nonzero message (+1 or -1) reaching one synapse; a synapse is
  one structural connection (zero weights included), so ``SOPs = sum_i events_i * fan_out_i``;
* the first layer's *MACs* are counted when the input is direct (graded, not {-1, 0, +1}): every
  connection, every timestep that carries input, as the paper's "#Flops" of the encoding layer;
* *sparsity* is the paper's: the fraction of neuron-steps that fire (+1 and -1 both count);
* *signs* are emitted spikes (the paper charges 3.7 pJ "per spike" for the sign function).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from lava_ternary import hardware, readout, sim
from lava_ternary.hardware import EnergyConvention, LoihiCore
from lava_ternary.io_utils import atomic_path, write_json


@dataclass
class LayerReport:
    """Structure, activity and Loihi footprint of one neuron layer (rates per neuron per step; counts per inference)."""

    index: int
    kind: str
    neuron: str
    shape: List[int]
    neurons: int
    synapses: int
    fan_in: int
    pos_rate: float
    neg_rate: float
    sparsity: float
    spikes: float
    input_events: float
    sops: float
    macs: float
    cores_neurons: int = 0
    cores_memory: int = 0
    cores_axons: int = 0
    cores: int = 0
    binding: str = ""
    load: float = 0.0
    fits: bool = True
    edges: List[Dict[str, float]] = field(default_factory=list)


@dataclass
class Report:
    """The whole report: per-layer rows, totals, energy per convention and the Loihi fit.

    ``timesteps`` counts every simulated step of a sample; ``latency`` (when known) of them are zero-input
    steps appended after the ``timesteps - latency`` input steps. Rates and sparsity are per step over all.
    """

    network: str
    samples: int
    timesteps: int
    direct_input: bool
    layers: List[LayerReport]
    energy: Dict[str, Dict[str, float]] = field(default_factory=dict)
    loihi: Dict[str, object] = field(default_factory=dict)
    accuracy: Optional[float] = None
    latency: Optional[int] = None

    @property
    def steps_label(self) -> str:
        """``'6 steps (4 input + 2 latency)'``: what the step count includes."""
        if self.latency is None:
            return f"{self.timesteps} steps (input and latency)"
        return f"{self.timesteps} steps ({self.timesteps - self.latency} input + {self.latency} latency)"

    @property
    def totals(self) -> Dict[str, float]:
        """Sums over layers of neurons, synapses, spikes, SOPs and MACs (per inference) and the overall sparsity."""
        neurons = sum(l.neurons for l in self.layers)
        spikes = sum(l.spikes for l in self.layers)
        return {"neurons": neurons, "synapses": sum(l.synapses for l in self.layers), "spikes": spikes,
                "sops": sum(l.sops for l in self.layers), "macs": sum(l.macs for l in self.layers),
                "sparsity": spikes / (neurons * self.timesteps) if neurons and self.timesteps else 0.0}

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        out["totals"] = self.totals
        return out


def _edge(source: int, fan_out: np.ndarray, events: np.ndarray, batch: int, graded: bool) -> Dict[str, float]:
    """One synapse group into a layer: its source layer, synapses, input events and SOPs per inference."""
    return {"source": source, "synapses": int(fan_out.sum()), "input_events": float(events.sum()) / batch,
            "sops": 0.0 if graded else float((events * fan_out).sum()) / batch}


def _loihi_fit(row: LayerReport, layer: sim.SimLayer, chip: LoihiCore) -> None:
    """Cores one layer needs on ``chip``: the neuron, synaptic-memory and input-axon demands in units of one core.

    The largest demand sets the core count and names the binding resource; ``row.load`` keeps it
    unrounded so that layers can be ranked even when all of them fit one core.
    """
    synapses = [synapse for _, synapse in layer.kind.edges(layer)]
    stored = row.synapses
    if layer.kind.convolutional and chip.conv_weight_sharing:
        stored = sum(int(synapse.weight.size) for synapse in synapses)
    # the sources of every synapse group (a shortcut's too) are input axons of the same cores
    inputs = sum(int(np.prod(synapse.in_shape)) for synapse in synapses)
    tiled = layer.kind.convolutional
    demand = {"neurons": row.neurons / chip.neurons_per_core,
              "synaptic memory": stored * chip.weight_bits / chip.synaptic_memory_bits,
              # a dense core sees every input; a conv layer tiled over space splits its inputs between cores
              "input axons": (inputs if tiled else min(inputs, row.fan_in)) / chip.input_axons_per_core}
    row.cores_neurons = math.ceil(demand["neurons"])
    row.cores_memory = math.ceil(demand["synaptic memory"])
    row.cores_axons = math.ceil(demand["input axons"]) if tiled else 1
    row.fits = row.fan_in <= chip.input_axons_per_core and (tiled or not layer.kind.synaptic
                                                            or inputs <= chip.input_axons_per_core)
    row.binding = max(demand, key=demand.get) if row.fits else "fan-in"
    row.load = max(demand.values())
    row.cores = max(row.cores_neurons, row.cores_memory, row.cores_axons, 1)


def analyze(net: Union[str, "sim.NetSpec", Sequence[sim.SimLayer]], x: np.ndarray, *, input_message_bits: int = 0,
            conventions: Sequence[EnergyConvention] = (hardware.PAPER, hardware.HOROWITZ_45NM),
            chip: LoihiCore = hardware.LOIHI2, result: Optional[sim.SimResult] = None,
            labels: Optional[np.ndarray] = None, skip: int = 0, population: int = 1) -> Report:
    """Simulate ``x`` through the network and build the report.

    Parameters
    ----------
    net : path, NetSpec or sequence of SimLayer
        The network (a netx file is compiled with :func:`lava_ternary.sim.compile_network`).
    x : np.ndarray
        Integer input ``[batch, *input_shape, T]`` (torch order).
    input_message_bits : int
        As for :func:`lava_ternary.sim.simulate`.
    conventions : sequence of EnergyConvention
        Energy conventions to price the operations with.
    chip : LoihiCore
        Resource limits for the fit estimate.
    result : SimResult, optional
        Spikes already simulated for ``x`` (all layers), to avoid simulating twice.
    labels : np.ndarray, optional
        Class labels of ``x``; with them the report carries the accuracy (:func:`lava_ternary.readout.predictions`).
    skip, population : int
        Readout of the accuracy: leading output steps left out (the latency) and output neurons per class.
    """
    name = str(net) if isinstance(net, (str, Path)) else getattr(net, "path", "<layers>")
    layers = list(net) if isinstance(net, (list, tuple)) and net and isinstance(net[0], sim.SimLayer) \
        else sim.compile_network(net)
    if result is None:
        result = sim.simulate(layers, x, input_message_bits=input_message_bits, record="all")
    batch, steps = int(x.shape[0]), int(x.shape[-1])
    direct = bool(np.any((x != 0) & (np.abs(x) != 1)))
    rows: List[LayerReport] = []
    msgs = np.asarray(x)
    spikes_by_layer = dict(zip((l.index for l in result.layers), result.spikes))
    first = True
    for layer in layers:
        if layer.neuron is None:  # a reshape (flatten)
            msgs = msgs.reshape(msgs.shape[0], -1, msgs.shape[-1])
            continue
        if not layer.neuron.hop:  # a readout outside the chip (netx's average layer)
            continue
        spikes = spikes_by_layer[layer.index]
        if not layer.neuron.records_messages:  # a neuron-less readout's voltage: it never sends
            spikes = np.zeros(spikes.shape, np.int8)
        # direct (graded) input: the first layer multiplies (an input neuron adds its input once per step)
        graded_first = first and direct
        edges, macs = [], 0.0
        for source, synapse in layer.kind.edges(layer):
            fan_out = synapse.kind.fan_out(synapse)
            sent = msgs if source is None else spikes_by_layer[source]
            events = (sent != 0).sum(axis=(0, -1)).reshape(fan_out.shape)
            graded = graded_first and source is None
            edges.append(_edge(layer.index - 1 if source is None else source, fan_out, events, batch, graded))
            if graded:
                active_steps = float(np.any(sent != 0, axis=tuple(range(1, sent.ndim - 1))).sum()) / batch
                macs = int(fan_out.sum()) * active_steps
        neurons = layer.num_neurons
        pos = float((spikes > 0).sum())
        neg = float((spikes < 0).sum())
        denom = neurons * batch * steps
        rows.append(LayerReport(
            index=layer.index, kind=layer.type, neuron=layer.neuron.kind + (" binary" if layer.neuron.binary and
                                                                              layer.neuron.kind == "TERNARY" else ""),
            shape=list(layer.out_shape), neurons=neurons, synapses=sum(e["synapses"] for e in edges),
            fan_in=sum(synapse.kind.fan_in(synapse) for _, synapse in layer.kind.edges(layer)),
            pos_rate=pos / denom, neg_rate=neg / denom, sparsity=(pos + neg) / denom, spikes=(pos + neg) / batch,
            input_events=sum(e["input_events"] for e in edges), sops=sum(e["sops"] for e in edges),
            macs=macs, edges=edges))
        _loihi_fit(rows[-1], layer, chip)
        msgs = spikes
        first = False
    report = Report(network=name, samples=batch, timesteps=steps, direct_input=direct, layers=rows)
    for conv in conventions:
        report.energy[conv.name] = energy(report, conv)
    report.loihi = loihi_summary(report, chip)
    if labels is not None:
        report.accuracy = float(np.mean(readout.predictions(result.output, skip, population) == np.asarray(labels)))
    return report


def energy(report: Report, conv: EnergyConvention) -> Dict[str, float]:
    """Operation counts and energy per inference (joules) of ``report`` under convention ``conv``."""
    t = report.totals
    flops = t["macs"] * conv.flops_per_mac
    parts = {"mac_j": t["macs"] * conv.mac_j, "sop_j": t["sops"] * conv.sop_j, "sign_j": t["spikes"] * conv.sign_j}
    return {"flops": flops, "sops": t["sops"], "signs": t["spikes"], **parts, "total_j": sum(parts.values()),
            "source": conv.source}


def loihi_summary(report: Report, chip: LoihiCore) -> Dict[str, object]:
    """Totals of the fit: cores, chips, the binding layer and resource, and layers that cannot fit a core."""
    cores = sum(l.cores for l in report.layers)
    worst = max(report.layers, key=lambda l: (not l.fits, l.cores, l.load))
    return {"chip": chip.name, "cores": cores, "chips": math.ceil(cores / chip.cores_per_chip),
            "binding_layer": worst.index, "binding_resource": worst.binding,
            "unfit_layers": [l.index for l in report.layers if not l.fits], "limits": dataclasses.asdict(chip)}


def compare(binary: Report, ternary: Report, conv: EnergyConvention = hardware.PAPER) -> Dict[str, Dict[str, float]]:
    """The paper's Table 5 for two networks: #Flops, #Sops, #Sign, energy and sparsity, plus the ternary overhead."""
    rows = {}
    for label, rep in (("binary", binary), ("ternary", ternary)):
        e = energy(rep, conv)
        rows[label] = {"flops": e["flops"], "sops": e["sops"], "signs": e["signs"], "energy_j": e["total_j"],
                       "sparsity": rep.totals["sparsity"]}
        if rep.accuracy is not None:
            rows[label]["accuracy"] = rep.accuracy
    base = rows["binary"]["energy_j"]
    rows["ternary"]["extra_energy_pct"] = 100.0 * (rows["ternary"]["energy_j"] - base) / base if base else float("nan")
    return rows


def _si(value: float, unit: str) -> str:
    """``value`` with an SI prefix (``1.2e-6 J`` -> ``1.20 uJ``)."""
    for scale, prefix in ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(value) < scale * 1000:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _count(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.1f}" if value != int(value) else str(int(value))


def format_table(report: Report) -> str:
    """The report as a terminal table (per layer, totals, energy, Loihi fit)."""
    head = f"{'layer':>5} {'kind':6} {'neuron':15} {'shape':>12} {'neurons':>8} {'synapses':>9} {'fan-in':>6} " \
           f"{'+1/n/t':>7} {'-1/n/t':>7} {'sparsity':>8} {'SOPs':>8} {'MACs':>8} {'cores':>5} {'binding':>16}"
    lines = [f"network {report.network}: {report.samples} samples x {report.steps_label}, "
             f"{'direct' if report.direct_input else 'spike'} input"
             + (f", accuracy {report.accuracy:.4f}" if report.accuracy is not None else ""), head, "-" * len(head)]
    for l in report.layers:
        lines.append(f"{l.index:>5} {l.kind:6} {l.neuron:15} {'x'.join(map(str, l.shape)):>12} {l.neurons:>8} "
                     f"{_count(l.synapses):>9} {l.fan_in:>6} {l.pos_rate:>7.4f} {l.neg_rate:>7.4f} {l.sparsity:>8.4f} "
                     f"{_count(l.sops):>8} {_count(l.macs):>8} {l.cores:>5} "
                     f"{l.binding + ('' if l.fits else ' (!)'):>16}")
    t = report.totals
    lines.append("-" * len(head))
    lines.append(f"total: {t['neurons']} neurons, {_count(t['synapses'])} synapses, {_count(t['spikes'])} spikes, "
                 f"{_count(t['sops'])} SOPs, {_count(t['macs'])} MACs per inference; sparsity {t['sparsity']:.4f}")
    for name, e in report.energy.items():
        lines.append(f"energy [{name}]: {_si(e['total_j'], 'J')} per inference (MAC {_si(e['mac_j'], 'J')}, "
                     f"SOP {_si(e['sop_j'], 'J')}, sign {_si(e['sign_j'], 'J')})")
    q = report.loihi
    if q:
        lines.append(f"{q['chip']} fit: {q['cores']} cores, {q['chips']} chip(s); binding: layer {q['binding_layer']} "
                     f"({q['binding_resource']})" + (f"; layers {q['unfit_layers']} exceed the fan-in limit"
                                                      if q["unfit_layers"] else ""))
    return "\n".join(lines)


def format_comparison(rows: Dict[str, Dict[str, float]]) -> str:
    """Table 5 of the paper (binary vs ternary) as text."""
    lines = [f"{'method':14} {'#Flops':>9} {'#Sops':>9} {'#Sign':>9} {'Energy':>11} {'sparsity':>8}"]
    for label in ("binary", "ternary"):
        r = rows[label]
        lines.append(f"{label.capitalize() + ' Spike':14} {_count(r['flops']):>9} {_count(r['sops']):>9} "
                     f"{_count(r['signs']):>9} {_si(r['energy_j'], 'J'):>11} {r['sparsity']:>8.4f}")
    lines.append(f"ternary extra energy: {rows['ternary']['extra_energy_pct']:+.2f}%")
    return "\n".join(lines)


def write_json_report(report: Report, path: Union[str, Path], comparison: Optional[dict] = None) -> Path:
    """Write the report (and an optional comparison) as JSON, atomically."""
    data = report.to_dict()
    if comparison is not None:
        data["comparison"] = comparison
    return write_json(path, data)


def plot(report: Report, path: Union[str, Path]) -> Path:
    """PNG bar chart per layer: spike rates (+1 / -1), SOPs and cores; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{l.index}:{l.kind}" for l in report.layers]
    pos = np.arange(len(labels))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].bar(pos, [l.pos_rate for l in report.layers], label="+1", color="tab:blue")
    axes[0].bar(pos, [l.neg_rate for l in report.layers], bottom=[l.pos_rate for l in report.layers], label="-1",
                color="tab:red")
    axes[0].set_ylabel("spikes / neuron / step (all steps)")
    axes[0].legend()
    axes[1].bar(pos, [l.sops for l in report.layers], label="SOPs", color="tab:green")
    axes[1].bar(pos, [l.macs for l in report.layers], bottom=[l.sops for l in report.layers], label="MACs",
                color="tab:orange")
    axes[1].set_ylabel("operations / inference")
    axes[1].legend()
    axes[2].bar(pos, [l.cores for l in report.layers], color="tab:purple")
    axes[2].set_ylabel(f"{report.loihi.get('chip', 'loihi')} cores")
    for ax in axes:
        ax.set_xticks(pos)
        ax.set_xticklabels(labels, rotation=30)
    fig.suptitle(f"{Path(str(report.network)).name}: {report.samples} samples x {report.steps_label}")
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return target


def _table_cell(value) -> str:
    """One netx table cell: blank, ``a, b`` for a pair, or a number."""
    if value is None:
        return f"{'':5s}|"
    if isinstance(value, (tuple, list)):
        return f"{value[0]:-2d},{value[1]:-2d}|"
    return f"{int(value):-5d}|"


def network_table(spec) -> str:
    """The layer table of a netx file in the format of ``str(lava.lib.dl.netx.hdf5.Network)``, plus the neuron.

    Built from :func:`lava_ternary.netfile.read_network` records, so it needs no Lava. W, H, C are the
    output sizes (netx's x, y, f); pairs are (W, H) as netx prints them.
    """
    rows = ["|   Type   |  W  |  H  |  C  | ker | str | pad | dil | grp |delay| neuron"]
    for layer in spec:
        shape = tuple(layer.shape)
        c, h, w = (shape + (1, 1))[:3] if len(shape) == 3 else (int(np.prod(shape)), 1, 1)
        geometry = layer.kind.geometry(layer)
        neuron = "" if layer.neuron is None else layer.neuron.type
        if layer.neuron is not None and layer.neuron.is_ternary:
            p = layer.neuron.ternary
            neuron += f" {p.spike_mode}/{p.reset_mode} vth={p.vth} bits={p.message_bits}"
        elif layer.neuron is not None and "vThMant" in layer.neuron.params:
            neuron += f" vth={layer.neuron.params['vThMant']}"
        neuron += layer.kind.describe(layer)
        row = f"|{layer.type.capitalize():10s}|{w:-5d}|{h:-5d}|{c:-5d}|" + "".join(_table_cell(g) for g in geometry)
        rows.append(row + f"{str(layer.delay is not None):5s}| {neuron}")
    return "\n".join(rows)
