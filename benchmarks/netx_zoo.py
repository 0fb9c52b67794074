"""lava-dl's own netx files: the fast simulator against stock Lava on the same batched input, in one run.

Run: ``.venv/bin/python benchmarks/netx_zoo.py [--quick] [--files tiny,mnist,...] [--no-ours]``.
For every network of ``tests/lavadl_zoo.py`` (the six files lava-dl ships in its wheel, lava-dl's
recurrent example and an RF export written by lava-dl's blocks) the same batch ``[N, *shape, T]``
runs back to back with ``reset_interval=T``:

* on stock Lava: lava-dl's :class:`lava.lib.dl.netx.hdf5.Network`, ``Loihi2SimCfg(select_tag='fixed_pt')``,
  every layer's messages recorded (and the voltage of a layer without a neuron group)
  (:func:`lava_ternary.sim.reference.run_lava`, ``network='stock'``);
* on :class:`lava_ternary.netx.Network` too (unless ``--no-ours``): it must build the same network
  (column ``ours``: its mismatches against stock, or ``refused`` with the reader's message in the JSON);
* on the simulator (:func:`lava_ternary.sim.compile_network` + :func:`lava_ternary.sim.simulate`, best of
  ``--repeats``), unless it refuses the file: the refusal is reported, not raised.

Per layer (file index) it counts mismatching entries, and it reports Lava's and the simulator's wall
times and their ratio (Lava's steady-state run, i.e. without its compile step, scaled to all steps,
against the simulator's ``simulate`` call; also both with build/compile). Lava's time includes its
recorder processes (one per layer; the simulator records every layer as well). Writes
``benchmarks/results/netx_zoo.json`` and prints a table. Exit status 1 when any compared layer mismatches.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List

import lava_ternary  # noqa: F401  (installs the lava import fix before lava is imported)
import numpy as np

from lava_ternary import sim
from lava_ternary.errors import NetxFormatError
from lava_ternary.io_utils import write_json
from lava_ternary.sim.reference import compare, run_lava

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from lavadl_zoo import ZOO  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "netx_zoo.json"


def _layers(matches) -> List[Dict[str, Any]]:
    return [{"index": m.index, "source": m.source, "mismatches": m.mismatches, "nonzero": m.nonzero,
             "size": m.size} for m in matches]


def _total(matches) -> int:
    return int(sum(m.mismatches for m in matches if m.mismatches is not None))


def _simulate(path: Path, x: np.ndarray, bits: int, repeats: int) -> Dict[str, Any]:
    """Compile and simulate (best of ``repeats``); ``{'refused': message}`` for a file the simulator refuses.

    A first compile and simulation (imports, numba, torch kernels, allocations) is not timed.
    """
    try:
        sim.simulate(sim.compile_network(path), x[:1], input_message_bits=bits)
    except NetxFormatError as error:
        return {"refused": str(error)}
    compile_s = run_s = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        layers = sim.compile_network(path)
        middle = time.perf_counter()
        result = sim.simulate(layers, x, input_message_bits=bits)
        compile_s, run_s = min(compile_s, middle - start), min(run_s, time.perf_counter() - middle)
    return {"layers": layers, "result": result, "compile_s": compile_s, "run_s": run_s}


def bench(name: str, folder: Path, *, quick: bool, ours: bool, repeats: int) -> Dict[str, Any]:
    """One network: the Lava run(s), the simulation, per-layer mismatches and the ratio."""
    entry = ZOO[name]
    samples, steps = entry.quick if quick else entry.full
    path = entry.file(folder)
    x = entry.inputs(samples, steps)
    bits = entry.message_bits(x)
    out: Dict[str, Any] = {"file": entry.path, "samples": samples, "steps": steps, "input_message_bits": bits,
                           "independent": entry.independent}
    simulated = _simulate(path, x, bits, repeats)
    layers = simulated.get("layers", [])
    stock = run_lava(path, x, input_message_bits=bits, layers=layers, network="stock", voltage=True)
    lava_s = stock.run_s * stock.steps / max(stock.steps - 1, 1)
    lava_total = stock.build_s + stock.compile_s + stock.run_s
    out["lava"] = {"steps": stock.steps, "build_s": stock.build_s, "compile_s": stock.compile_s,
                   "run_s": stock.run_s, "steady_s": lava_s, "samples_per_s": samples / lava_s,
                   "layer_index": stock.layer_index,
                   "nonzero": [int(np.count_nonzero(values)) for values in stock.layers],
                   "voltage_nonzero": {str(k): int(np.count_nonzero(v)) for k, v in stock.voltage.items()}}
    if ours:
        try:
            mine = run_lava(path, x, input_message_bits=bits, layers=layers, network="ours", voltage=True)
        except NetxFormatError as error:
            out["ours_vs_stock"] = {"refused": str(error)}
        else:
            matches = compare(mine, stock)
            out["ours_vs_stock"] = {"mismatches": _total(matches), "layers": _layers(matches),
                                    "run_s": mine.run_s}
    if "refused" in simulated:
        out["sim"] = {"status": "refused", "refusal": simulated["refused"]}
        return out
    matches = compare(simulated["result"], stock)
    sim_total = simulated["compile_s"] + simulated["run_s"]
    out["sim"] = {"status": "exact" if _total(matches) == 0 and all(m.mismatches is not None for m in matches
                                                                      if m.source != "not in Lava")
                  else "MISMATCH", "mismatches": _total(matches), "layers": _layers(matches),
                  "compile_s": simulated["compile_s"], "run_s": simulated["run_s"],
                  "samples_per_s": samples / simulated["run_s"], "ratio": lava_s / simulated["run_s"],
                  "ratio_with_build": lava_total / sim_total}
    return out


def _independent(r: Dict[str, Any]) -> str:
    """``yes``, ``no`` or ``~yes`` (independent but for one step) for the table."""
    verdict = r["independent"].split(":")[0]
    return {"yes": "yes", "no": "no"}.get(verdict, "~yes")


def _row(name: str, r: Dict[str, Any]) -> str:
    if "error" in r:
        return f"{name:15s} ERROR {r['error']}"
    lava, s = r["lava"], r["sim"]
    ours = r.get("ours_vs_stock", {})
    ours = "refused" if "refused" in ours else ours.get("mismatches", "-")
    head = (f"{name:15s} {r['samples']:3d}x{r['steps']:<3d} {_independent(r):4s} "
            f"{lava['steady_s']:8.2f} {ours!s:>7s}")
    if s["status"] == "refused":
        return f"{head}   refused: {s['refusal'].split(chr(39) + ', ', 1)[-1]}"  # without the file's path
    per_layer = ",".join(str(m["mismatches"]) for m in s["layers"] if m["mismatches"] is not None)
    return (f"{head} {s['run_s']:9.4f} {s['ratio']:7.1f}x {s['ratio_with_build']:6.1f}x  {s['status']} "
            f"[{per_layer}]")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small batches (a few minutes in all)")
    parser.add_argument("--files", default=",".join(ZOO), help=f"comma-separated subset of {','.join(ZOO)}")
    parser.add_argument("--no-ours", dest="ours", action="store_false",
                        help="skip the lava_ternary.netx.Network run (stock Lava and the simulator only)")
    parser.add_argument("--repeats", type=int, default=5, help="simulator timings (best is kept)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.files.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ZOO))
    if unknown:
        parser.error(f"--files: unknown {unknown}; choose from {','.join(ZOO)}")

    results: Dict[str, Any] = {}
    print(f"{'network':15s} {'N x T':7s} ind  {'lava s':>8s} {'ours':>7s} {'sim s':>9s} {'ratio':>8s} "
          f"{'+build':>7s}  sim vs stock Lava [mismatches per layer]")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            start = time.perf_counter()
            try:
                results[name] = bench(name, Path(folder), quick=args.quick, ours=args.ours, repeats=args.repeats)
            except Exception as error:  # one network's failure is reported, the others still run
                traceback.print_exc()
                results[name] = {"error": f"{type(error).__name__}: {error}"}
            results[name]["wall_s"] = time.perf_counter() - start
            print(_row(name, results[name]), flush=True)
    summary = {"quick": args.quick, "files": results, "cpus": len(os.sched_getaffinity(0)),
               "load_average": list(os.getloadavg())}
    write_json(args.out, summary)
    print(f"wrote {args.out}")
    bad = [n for n, r in results.items() if "error" in r or r["sim"].get("status") == "MISMATCH"
           or r.get("ours_vs_stock", {}).get("mismatches", 0)]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
