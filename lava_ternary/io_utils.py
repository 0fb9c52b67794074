"""Output files: checked before work starts, written atomically, never replacing what is not a regular file.

Rules for every output path (:func:`check_writable`, :func:`atomic_path`, :func:`write_json`):

* A symlink is written through: its target gets the new content and the link stays a link.
* A regular file (or a path that does not exist yet) is replaced atomically: a temporary file
  ``.<name>.<pid>-<random><suffix>`` is written in the target's folder and renamed onto it, so a
  reader, or a run killed mid-write, sees either the old content or the new one.
* A character device (``/dev/null``, a terminal) or a FIFO with a reader (``/dev/stdout`` piped)
  is written through: the content is written to a temporary file elsewhere and then copied into
  it; the device itself is never replaced. A FIFO without a reader is refused (it would block).
* A directory, block device or socket is refused with :class:`OutputPathError`.
* The new file gets the permission bits a plain ``open(target, 'w')`` gives it: those of the file
  it replaces without setuid, setgid and sticky bits, or ``0o666`` less the umask for a new file.
* The target's folder must exist, unless the caller passes ``create_parents=True``; in this
  package only run directories (``--out`` of ``training.train`` and the study scripts) are created.
* Temporary files of killed writers (their process is gone) are removed by the next write of the
  same target, and by :func:`remove_stale_temporaries` for a whole folder.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator, List, Union

from lava_ternary.errors import LavaTernaryError

PathLike = Union[str, "os.PathLike[str]"]

_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+(?P<suffix>\.[A-Za-z0-9]+)$")


class OutputPathError(LavaTernaryError):
    """An output path that cannot be written; the one-line message names the path and why."""


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
    """The permission bits ``open(target, 'w')`` would leave: the existing file's (no setuid/setgid/sticky
    bit), else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode) & 0o777
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def _fail(path: PathLike, problem: str) -> OutputPathError:
    return OutputPathError(f"output {str(path)!r}: {problem}")


def _is_stream(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _destination(path: PathLike, create_parents: bool) -> Path:
    """Where writing ``path`` lands: the path itself for a stream, else the symlink-resolved file.

    Raises :class:`OutputPathError` for anything that cannot be written (see the module docstring).
    """
    text = os.fspath(path)
    if not text:
        raise _fail(path, "empty path")
    try:
        st = os.stat(text)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise _fail(path, f"a part of {os.path.dirname(text)!r} is a file, not a directory") from None
    except OSError as exc:
        raise _fail(path, f"cannot be reached ({exc.strerror or exc})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise _fail(path, "is a directory, not a file")
        if _is_stream(st.st_mode):
            return Path(text)
        if not stat.S_ISREG(st.st_mode):
            kind = "block device" if stat.S_ISBLK(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else \
                "special file"
            raise _fail(path, f"is a {kind}; refusing to write to it")
    target = Path(os.path.realpath(text))
    parent = target.parent
    if not parent.is_dir():
        if parent.exists():
            raise _fail(path, f"{str(parent)!r} is not a directory")
        if not create_parents:
            raise _fail(path, f"folder {str(parent)!r} does not exist (create it first)")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(path, f"cannot create folder {str(parent)!r} ({exc.strerror or exc})") from None
    return target


def check_writable(path: PathLike, *, create_parents: bool = False) -> Path:
    """Check, before any work starts, that an output file can be written; return where it will land.

    Parameters
    ----------
    path : path
        The output file (for a run directory, pass a file inside it with ``create_parents=True``).
    create_parents : bool
        Create missing parent folders (only for documented run directories); otherwise a missing
        folder is an error.

    Returns
    -------
    Path
        The file the content will reach: ``path`` with symlinks resolved, or ``path`` itself for a
        character device or FIFO.

    Raises
    ------
    OutputPathError
        (a ``ValueError``) with one line naming the path and the problem: a directory, block device
        or socket at the path, a missing or non-directory parent, no write permission.
    """
    dest = _destination(path, create_parents)
    try:
        st = os.stat(dest)
    except FileNotFoundError:
        st = None
    if st is not None and _is_stream(st.st_mode):
        if not os.access(dest, os.W_OK):
            raise _fail(path, "no permission to write to it")
        return dest
    try:  # a real write: permission bits say nothing for root or on a read-only file system
        tempfile.TemporaryFile(dir=dest.parent).close()
    except OSError as exc:
        raise _fail(path, f"cannot create files in folder {str(dest.parent)!r} ({exc.strerror or exc})") from None
    return dest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: PathLike, name: str = "") -> List[Path]:
    """Remove temporary files left in ``folder`` by :func:`atomic_path` writers that were killed.

    Only files named like this module's temporaries whose writing process no longer exists are
    removed (a live writer's file is kept). ``name`` restricts the clean-up to one target's name.
    Returns the removed paths.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TMP_NAME.match(entry.name)
        if match is None or (name and match["name"] != name) or not entry.is_file(follow_symlinks=False):
            continue
        if int(match["pid"]) != os.getpid() and not _pid_alive(int(match["pid"])):
            with contextlib.suppress(OSError):  # gone already, or another user's file in a shared folder
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _write_stream(tmp: Path, dest: Path, path: PathLike) -> None:
    """Copy the finished temporary file into a character device or FIFO."""
    flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(dest, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise _fail(path, "is a FIFO with no reader; refusing to block on it") from None
        raise _fail(path, f"cannot be opened for writing ({exc.strerror or exc})") from None
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    with open(fd, "wb") as out, open(tmp, "rb") as src:
        shutil.copyfileobj(src, out)


@contextlib.contextmanager
def atomic_path(target: PathLike, suffix: str = ".tmp", *, create_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success its content reaches ``target``, on error it is removed.

    A regular ``target`` (or a symlink's target) is replaced by a rename, so a reader never sees it
    half-written; a character device or FIFO is written through, never replaced. See the module
    docstring for all rules. Raises :class:`OutputPathError` before yielding when ``target``
    cannot be written (``create_parents`` as in :func:`check_writable`).
    """
    dest = _destination(target, create_parents)
    try:
        stream = _is_stream(os.stat(dest).st_mode)
    except FileNotFoundError:
        stream = False
    folder = None if stream else dest.parent
    if folder is not None:
        remove_stale_temporaries(folder, dest.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}-", suffix=suffix, dir=folder)
    except OSError as exc:
        raise _fail(target, f"cannot create a temporary file in {str(folder or tempfile.gettempdir())!r} "
                            f"({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if stream:
            _write_stream(tmp_path, dest, target)
        else:
            with open(tmp_path, "rb+") as fh:
                os.fchmod(fh.fileno(), _final_mode(dest))
                os.fsync(fh.fileno())
            os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def write_json(target: PathLike, data: Any, *, create_parents: bool = False) -> Path:
    """Write ``data`` as indented JSON to ``target`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(target, create_parents=create_parents) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return Path(target)
