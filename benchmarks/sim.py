"""Throughput of the batched simulator against Lava ``fixed_pt`` on the same network and the same samples.

Run: ``.venv/bin/python benchmarks/sim.py [--samples 200] [--timesteps 6]``. The network is the default
digits model (``training.models.build_model('digits-conv')``, ternary neurons, seeded initial weights,
exported with :func:`lava_ternary.netx.export_hdf5`); the samples are the first digits test images,
direct-encoded. Both runs are timed in this process after the imports (Lava: network build, compile and
run of ``samples * T`` steps back to back; simulator: compile and simulate). Every layer's spikes are
compared. Prints samples/s and the ratio (target >= 1000) and writes ``benchmarks/results/sim.json``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import lava_ternary  # noqa: F401  (installs the lava import fix before lava is imported)
import numpy as np
import torch

from lava_ternary import sim
from lava_ternary.io_utils import write_json
from lava_ternary.netx import export_hdf5
from lava_ternary.parity import default_message_bits
from lava_ternary.sim.reference import run_lava
from training.data import load_split
from training.models import build_model

RESULT = Path(__file__).resolve().parent / "results" / "sim.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--timesteps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=20, help="simulator timings (best is kept)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model = build_model("digits-conv", neuron="ternary")
    data = load_split("digits", "test", args.timesteps)
    x, _ = data.batch(range(min(args.samples, len(data))))
    x = x.numpy().astype(np.int64)
    bits = default_message_bits(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_hdf5(model, Path(tmp) / "digits.net").path
        layers = sim.compile_network(path)
        sim.simulate(layers, x[:2], input_message_bits=bits)  # warm-up (torch kernels, allocations)

        lava = run_lava(path, x, input_message_bits=bits, layers=layers)

        sim_s, compile_s = float("inf"), float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            compiled = sim.compile_network(path)
            middle = time.perf_counter()
            ours = sim.simulate(compiled, x, input_message_bits=bits)
            compile_s, sim_s = min(compile_s, middle - start), min(sim_s, time.perf_counter() - middle)

    mismatches = int(sum(np.count_nonzero(a != b) for a, b in zip(ours.spikes, lava.layers)))
    spikes = int(sum(np.count_nonzero(a) for a in ours.spikes))
    samples = int(x.shape[0])
    # steady state: Lava's run after its compile step (scaled to all samples), the simulator's simulate call
    lava_s = lava.run_s * lava.steps / max(lava.steps - 1, 1)
    lava_total = lava.build_s + lava.compile_s + lava.run_s
    result = {"samples": samples, "lava_samples_per_s": samples / lava_s, "sim_samples_per_s": samples / sim_s,
              "ratio": lava_s / sim_s, "mismatches": mismatches, "timesteps": args.timesteps, "spikes": spikes,
              "layers": len(ours.spikes), "lava_run_s": lava_s, "sim_run_s": sim_s,
              "lava_total_s": lava_total, "sim_total_s": compile_s + sim_s,
              "ratio_with_build": lava_total / (compile_s + sim_s),
              "network": "digits-conv (seeded init), ternary", "cpus": len(os.sched_getaffinity(0)),
              "load_average": list(os.getloadavg())}
    write_json(args.out, result)
    print(f"{samples} samples x {args.timesteps} steps, {len(ours.spikes)} layers, {spikes} spikes")
    print(f"lava fixed_pt   : {lava_s:8.3f} s  {result['lava_samples_per_s']:10.1f} samples/s "
          f"(+ build/compile {lava.build_s + lava.compile_s:.2f} s)")
    print(f"lava_ternary.sim: {sim_s:8.4f} s  {result['sim_samples_per_s']:10.1f} samples/s "
          f"(+ compile {compile_s:.3f} s)")
    print(f"ratio {result['ratio']:.0f}x (target >= 1000); with build/compile on both sides "
          f"{result['ratio_with_build']:.0f}x; mismatching spikes {mismatches}")
    print(f"wrote {args.out}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
