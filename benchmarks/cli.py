"""Start-up times of the ``lava-ternary`` command line: bad arguments, missing files, ``info``, ``evaluate``.

Run: ``.venv/bin/python benchmarks/cli.py [--repeats 3]``. Every case is a fresh
``python -m lava_ternary.cli ...`` process timed from start to exit (the median of ``--repeats``
runs). The network is the default digits model (``training.models.build_model('digits-conv')``,
ternary, seeded initial weights) exported with :func:`lava_ternary.netx.export_hdf5`. ``evaluate``
start-up is the wall time of ``evaluate NET --limit 1 --batch-size 1`` (everything before the first
sample plus one sample, which simulates in milliseconds), measured after one unmeasured run that fills
the compiled-code cache. For ``info``, ``evaluate`` and ``report`` the script also lists which heavy
modules (torch, torchvision, lava-dl's slayer, lava-dl) an in-process call loaded.

Every case also records the CPU seconds (user + system) of its process, which depend less on the load
of a shared machine than the wall time, and the load average is recorded. For ``evaluate`` start-up,
``-X importtime`` splits out the imports that ``training.data`` brings (torch, scikit-learn's datasets).

Targets: a bad argument or missing file < 1 s, ``info`` < 1 s, ``evaluate`` start-up < 3 s (warm
cache). Prints the table and writes ``benchmarks/results/cli.json`` (``--before FILE`` embeds an
earlier result, e.g. of the tree before a change, under ``"before"``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "cli.json"
HEAVY = ("torch", "torchvision", "lava.lib.dl.slayer", "lava.lib.dl.netx", "lava.magma")
TARGETS = {"bad_argument": 1.0, "missing_file": 1.0, "info": 1.0, "evaluate_startup": 3.0}


def cases(net: str, tmp: str) -> Dict[str, List[List[str]]]:
    """Target name -> the command lines timed for it."""
    return {
        "bad_argument": [["evaluate", net, "--population", "0", "--limit", "4"],
                         ["evaluate", net, "--limit", "0"],
                         ["run", net, "--latency", "-1", "--samples", "1"],
                         ["smoke", "--steps", "0"]],
        "missing_file": [["info", "/no/such.net"], ["evaluate", "/no/such.net"],
                         ["export", "/no/such.pt", f"{tmp}/out.net"]],
        "info": [["info", net]],
        "evaluate_startup": [["evaluate", net, "--limit", "1", "--batch-size", "1"]],
    }


def timed(argv: List[str], env: Dict[str, str]) -> Dict[str, object]:
    """Wall and CPU time, exit code and the stderr line count of one ``python -m lava_ternary.cli`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lava_ternary.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"seconds": seconds, "cpu_s": cpu, "code": proc.returncode,
            "stderr_lines": len(proc.stderr.strip().splitlines()), "stderr_last": proc.stderr.strip()[-200:]}


def import_breakdown(argv: List[str], env: Dict[str, str]) -> Dict[str, float]:
    """Seconds of the top-level imports of one ``python -X importtime -m lava_ternary.cli`` run, largest first."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lava_ternary.cli", *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    top = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, cumulative, raw = line.split("|")
            if cumulative.strip().isdigit() and not raw.startswith("  "):  # nested imports are indented
                top[raw.strip()] = int(cumulative) / 1e6
    largest = dict(sorted(top.items(), key=lambda kv: -kv[1])[:8])
    return {"wall_s": wall, "all_imports_s": sum(top.values()), "largest_s": largest}


def loaded_modules(argv: List[str], env: Dict[str, str]) -> List[str]:
    """The heavy modules an in-process ``lava_ternary.cli.main(argv)`` call leaves in ``sys.modules``."""
    code = ("import sys, json, contextlib, io\nfrom lava_ternary.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n        main(sys.argv[1:])\n    except SystemExit:\n        pass\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else [f"failed: {proc.stderr[-200:]}"]


def build_network(path: Path) -> str:
    """Export the seeded default digits model to ``path``."""
    import lava_ternary  # noqa: F401  (lava import fix first)
    import torch

    from lava_ternary.netx import export_hdf5
    from training.models import build_model

    torch.manual_seed(0)
    return str(export_hdf5(build_model("digits-conv", neuron="ternary"), path).path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--before", type=Path, default=None, help="an earlier cli.json to embed as 'before'")
    args = parser.parse_args(argv)
    from lava_ternary.io_utils import write_json

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result: Dict[str, object] = {"python": sys.executable, "cpus": len(os.sched_getaffinity(0)),
                                 "load_average_start": list(os.getloadavg()), "targets_s": TARGETS, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        net = build_network(Path(tmp) / "digits.net")
        timed(["evaluate", net, "--limit", "1", "--batch-size", "1"], env)  # warm the compiled-code cache
        worst = {}
        for target, lines in cases(net, tmp).items():
            for line in lines:
                runs = [timed(line, env) for _ in range(args.repeats)]
                median = statistics.median(r["seconds"] for r in runs)
                name = " ".join(line).replace(net, "NET").replace(tmp, "TMP")
                result["cases"][name] = {"target": target, "median_s": median,
                                         "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                                         "code": runs[0]["code"],
                                         "stderr_lines": runs[0]["stderr_lines"], "stderr_last": runs[0]["stderr_last"]}
                worst[target] = max(worst.get(target, 0.0), median)
                print(f"{target:17s} {median:6.2f} s ({result['cases'][name]['median_cpu_s']:5.2f} s CPU)  "
                      f"exit {runs[0]['code']}  {runs[0]['stderr_lines']} stderr "
                      f"lines  lava-ternary {name}", flush=True)
        result["worst_s"] = worst
        result["evaluate_imports"] = import_breakdown(["evaluate", net, "--limit", "1", "--batch-size", "1"], env)
        result["met"] = {t: worst[t] < limit for t, limit in TARGETS.items()}
        result["heavy_modules"] = {
            "info": loaded_modules(["info", net], env),
            "evaluate": loaded_modules(["evaluate", net, "--limit", "1", "--batch-size", "1"], env),
            "report": loaded_modules(["report", net, "--samples", "2", "--out", f"{tmp}/report"], env)}
    result["load_average_end"] = list(os.getloadavg())
    if args.before is not None:
        result["before"] = json.loads(args.before.read_text())
    print("worst per target:", {t: round(s, 2) for t, s in worst.items()}, "met:", result["met"])
    print("heavy modules loaded:", result["heavy_modules"])
    print("evaluate start-up imports:", {k: round(v, 2) for k, v in result["evaluate_imports"]["largest_s"].items()},
          f"of {result['evaluate_imports']['wall_s']:.2f} s")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
