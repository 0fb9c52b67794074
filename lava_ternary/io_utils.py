"""Atomic file writes: write to a temporary file in the target folder, then rename into place."""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def _current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` where the kernel reports it.

    Elsewhere it is read by setting and restoring it (``os.umask`` has no getter), which is
    process-global but lasts only two system calls.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _final_mode(target: Path) -> int:
    """The permission bits ``open(target, 'w')`` would leave: the existing file's, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(target: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``, on error it is removed.

    A reader never sees a half-written ``target``: it has either the old content or the new one.
    The new ``target`` gets the permission bits a plain ``open(target, 'w')`` would give it: those of
    the file it replaces, or ``0o666`` less the process umask for a new file (not the ``0o600`` of
    :func:`tempfile.mkstemp`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fchmod(fh.fileno(), _final_mode(target))
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(target: PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``target`` atomically; return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return Path(target)
