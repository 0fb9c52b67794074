"""The simulator's compiled loops are cached on disk in a folder named by a hash of their sources."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from lava_ternary.sim import kernel

ROOT = Path(__file__).resolve().parent.parent


def test_an_edit_of_either_source_selects_another_cache_folder(tmp_path, monkeypatch):
    sources = [tmp_path / p.name for p in kernel.SOURCES]
    for src, dst in zip(kernel.SOURCES, sources):
        shutil.copy(src, dst)
    monkeypatch.setenv("LAVA_TERNARY_CACHE_DIR", str(tmp_path / "cache"))
    before = kernel.cache_dir(sources)
    assert before.parent == tmp_path / "cache" and before.name == f"numba-{kernel.source_digest(sources)}"
    assert before == kernel.cache_dir(kernel.SOURCES).parent / before.name  # same bytes, same folder
    for path in sources:  # a one-character edit of either file moves the cache
        original = path.read_text()
        path.write_text(original.replace("int", "Int", 1))
        assert kernel.cache_dir(sources) != before
        path.write_text(original)
        assert kernel.cache_dir(sources) == before


def test_the_loops_are_cached_in_the_hashed_folder():
    assert kernel.CACHE == kernel.cache_dir()
    x = np.arange(12, dtype=np.int64).reshape(1, 3, 4)
    msgs, active, same = np.zeros((4, 1, 3), np.float32), np.zeros(4, np.bool_), np.zeros(4, np.bool_)
    kernel.time_major(x, False, msgs, active, same)
    assert (msgs[:, 0, :] == x[0].T).all()
    assert kernel.time_major.stats.cache_path == str(kernel.CACHE)
    assert any(kernel.CACHE.glob("kernel.time_major-*.nbi"))


def test_concurrent_processes_share_a_fresh_cache(tmp_path):
    """Two processes compile into an empty folder at once; a third loads from it without compiling."""
    script = ("import json, numpy as np\nfrom lava_ternary.sim import kernel\n"
              "x = np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 8\n"
              "msgs, active, same = np.zeros((4, 2, 3), np.float32), np.zeros(4, np.bool_), np.zeros(4, np.bool_)\n"
              "kernel.time_major(x, True, msgs, active, same)\n"
              "s = kernel.time_major.stats\n"
              "print(json.dumps(dict(ok=bool((msgs == (x != 0).transpose(2, 0, 1)).all()), hits=sum(s.cache_hits.values()),"
              " misses=sum(s.cache_misses.values()), path=s.cache_path)))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAVA_TERNARY_CACHE_DIR=str(tmp_path))

    def start():
        return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def result(proc):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        return json.loads(out.strip().splitlines()[-1])

    first = [result(p) for p in [start(), start()]]
    third = result(start())
    assert all(r["ok"] for r in first + [third])
    assert {r["path"] for r in first + [third]} == {str(tmp_path / kernel.cache_dir().name)}
    assert third["hits"] >= 1 and third["misses"] == 0
    assert not list(tmp_path.rglob("*.tmp.*"))  # no half-written files left behind
