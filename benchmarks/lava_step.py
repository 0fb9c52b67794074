"""Lava fixed_pt wall time per step: TERNARY neurons (TernaryCUBA) vs stock LIF in the same netx topology.

Two netx files with the same layers, weights, decays and thresholds are written: one with the
``TERNARY`` neuron group, one with the stock ``CUBA`` group (netx builds ``LIFReset``). Both run the
same integer input back to back with ``reset_interval`` on ``Loihi2SimCfg(select_tag='fixed_pt')``;
the first step (compile and start-up) is excluded from the timing. Prints the per-step times and the
ratio ternary / LIF (target <= 1.2) and writes ``benchmarks/results/lava_step.json``.

Usage: ``python benchmarks/lava_step.py [--steps 600] [--out benchmarks/results/lava_step.json]``.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import lava_ternary  # noqa: F401  (Python 3.11 fix before lava)

NEURON = {"iDecay": 2048, "vDecay": 1024, "vThMant": 64, "refDelay": 1}


def write_net(path: Path, neuron_type: str, seed: int = 0) -> None:
    """digits-conv topology: conv 1->8 (8x8), conv 8->16 stride 2, flatten, dense 256->64, dense 64->10."""
    rng = np.random.default_rng(seed)
    neuron = dict(NEURON, type=neuron_type, gradedSpike=False)
    if neuron_type == "TERNARY":
        neuron.update(resetMode="hard", spikeMode="ternary", vInit=0, messageBits=2)

    def layer(root, index, ltype, shape, **datasets):
        group = root.create_group(str(index))
        group.create_dataset("type", (1,), "S10", [ltype.encode()])
        group.create_dataset("shape", data=np.array(shape))
        for key, value in datasets.items():
            group.create_dataset(key, data=value)
        if ltype in ("conv", "dense"):
            for key, value in neuron.items():
                group.create_dataset(f"neuron/{key}", data=value)

    def weight(*shape):
        return (2 * rng.integers(-20, 21, shape)).astype(np.float32)

    conv = dict(kernelSize=[3, 3], padding=[1, 1], dilation=[1, 1], groups=1)
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layer")
        layer(root, 0, "input", [1, 8, 8])
        layer(root, 1, "conv", [8, 8, 8], weight=weight(8, 1, 3, 3), stride=[1, 1], inChannels=1, outChannels=8, **conv)
        layer(root, 2, "conv", [16, 4, 4], weight=weight(16, 8, 3, 3), stride=[2, 2], inChannels=8, outChannels=16,
              **conv)
        layer(root, 3, "flatten", [256, 1, 1])
        layer(root, 4, "dense", [64], weight=weight(64, 256), inFeatures=256, outFeatures=64)
        layer(root, 5, "dense", [10], weight=weight(10, 64), inFeatures=64, outFeatures=10)


def time_per_step(path: Path, stream: np.ndarray, steps: int, interval: int) -> dict:
    """Seconds per step of ``steps - 1`` steps after the first (compile + start-up excluded)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer as Source

    from lava_ternary.netx import Network
    from lava_ternary.proc.recorder import SpikeRecorder

    net = Network(path, input_message_bits=6, reset_interval=interval)
    source = Source(data=stream)
    source.s_out.connect(net.inp)
    sink = SpikeRecorder(shape=net.out.shape, steps=steps, path=path.with_suffix(".npy"))
    net.out.connect(sink.a_in)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    try:
        start = time.perf_counter()
        net.run(RunSteps(1), cfg)
        first = time.perf_counter() - start
        start = time.perf_counter()
        net.run(RunSteps(steps - 1), cfg)
        rest = time.perf_counter() - start
    finally:
        net.stop()
    spikes = sink.read()
    return {"neurons": [type(layer.neuron).__name__ for layer in net.layers], "first_step_s": first,
            "ms_per_step": 1000 * rest / (steps - 1), "output_spikes": int(np.count_nonzero(spikes))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--interval", type=int, default=8, help="reset_interval (steps per sample)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lava_step.json")
    args = parser.parse_args()
    from lava_ternary.io_utils import write_json

    rng = np.random.default_rng(1)
    stream = np.repeat(rng.integers(0, 17, (8, 8, 1, args.steps // args.interval + 1)), args.interval, axis=-1)
    stream = stream[..., :args.steps]
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for name, neuron_type in (("lif", "CUBA"), ("ternary", "TERNARY")):
            path = Path(folder) / f"{name}.net"
            write_net(path, neuron_type)
            results[name] = time_per_step(path, stream, args.steps, args.interval)
            print(f"{name:8s} {results[name]['ms_per_step']:.3f} ms/step  ({', '.join(results[name]['neurons'])}; "
                  f"{results[name]['output_spikes']} output spikes)")
    ratio = results["ternary"]["ms_per_step"] / results["lif"]["ms_per_step"]
    print(f"ratio ternary / LIF = {ratio:.3f} (target <= 1.2)")
    write_json(args.out, {"benchmark": "lava_step", "steps": args.steps, "reset_interval": args.interval,
                          "topology": "input 1x8x8 -> conv 8 -> conv 16 /2 -> flatten -> dense 64 -> dense 10",
                          "tag": "fixed_pt", "results": results, "ratio_ternary_over_lif": ratio,
                          "target": 1.2})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
