"""A Lava run that leaves no worker process behind, however this process ends.

Lava (0.10) runs a network in forked :mod:`multiprocessing` processes: a runtime service, one
worker per process model and a shared-memory manager. A parent killed by SIGTERM, SIGHUP or
SIGKILL used to leave them all running under init, and a Ctrl-C could hang in ``net.stop()``,
which exchanges commands over channels the interrupt may have cut mid-message.

:func:`lava_session` wraps the ``net.run`` calls of one run:

- every process forked inside it asks the kernel for SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``; a parent-watch thread where ``prctl`` is missing), so SIGKILL of
  this process takes the workers with it within a moment; the multiprocessing resource tracker then
  unlinks the shared memory;
- SIGTERM and SIGHUP (where their handlers are the default, in the main thread) raise
  ``SystemExit(128 + signal)``, so they unwind like Ctrl-C's ``KeyboardInterrupt``;
- on leaving normally or with an error the runtime is stopped with ``net.stop()``; on an interrupt
  (``KeyboardInterrupt``, ``SystemExit``) it is aborted instead (:func:`abort`): the workers are
  killed and the shared-memory manager is shut down, without waiting on Lava's channels.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from typing import Any, Iterator, Set

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_SIGNALS = ("SIGTERM", "SIGHUP")
"""Signals that unwind a run as ``SystemExit(128 + signal)`` (when their handler is the default)."""


class _Parent:
    """Registered with multiprocessing's after-fork hooks for the length of a session."""

    def __init__(self) -> None:
        self.pid = os.getpid()


def _die_with_parent(parent: _Parent) -> None:
    """In a freshly forked process: SIGKILL when the parent dies (Linux), else a parent-watch thread."""
    expected, parent.pid = parent.pid, os.getpid()  # a worker's own children watch the worker
    try:
        bound = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl: not Linux
        bound = False
    if not bound:
        threading.Thread(target=_watch_parent, args=(expected,), name="lava-ternary-parent-watch",
                         daemon=True).start()
    if os.getppid() != expected:  # the parent died before the request took effect
        os._exit(1)


def _watch_parent(pid: int) -> None:
    while os.getppid() == pid:
        time.sleep(0.5)
    os._exit(1)


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def abort(net: Any, before: Set[Any]) -> None:
    """Stop an interrupted Lava run without waiting on its channels.

    Kills the runtime's worker processes, shuts its shared-memory manager down (which unlinks the
    segments), kills any other :mod:`multiprocessing` child started since ``before`` was taken, and
    marks the runtime stopped so that its destructor does not call ``stop()`` again. These are Lava
    0.10 internals (``Runtime._messaging_infrastructure``, ``_is_started``), looked up defensively.
    """
    runtime = getattr(net, "runtime", None)
    infra = getattr(runtime, "_messaging_infrastructure", None)
    for actor in list(getattr(infra, "actors", None) or []):
        with contextlib.suppress(Exception):
            actor.kill()
    with contextlib.suppress(Exception):
        infra.smm.shutdown()
    for child in set(multiprocessing.active_children()) - before:
        child.kill()
        multiprocessing.Process.join(child, 5)  # the base join: Lava's SystemProcess.join takes no timeout
    if runtime is not None:
        runtime._is_started = runtime._is_running = False


@contextlib.contextmanager
def bound_workers() -> Iterator[Set[Any]]:
    """Processes forked inside die with this one; SIGTERM/SIGHUP raise ``SystemExit(128 + signal)``.

    Yields the :mod:`multiprocessing` children that existed before (see :func:`abort`). The signal
    handlers are installed only from the main thread and only over default handlers, and are
    restored on exit.
    """
    before = set(multiprocessing.active_children())
    parent = _Parent()
    multiprocessing.util.register_after_fork(parent, _die_with_parent)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
                previous[signum] = signal.signal(signum, _stop_on_signal)
    try:
        yield before
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        del parent  # the after-fork registry holds it weakly: this ends the registration


@contextlib.contextmanager
def lava_session(net: Any) -> Iterator[None]:
    """Run ``net`` (a Lava process) inside: stopped on exit, aborted on an interrupt, no orphaned worker.

    Parameters
    ----------
    net : lava.magma.core.process.process.AbstractProcess
        The process whose ``run`` calls the block makes (its runtime is stopped or aborted on exit).
    """
    with bound_workers() as before:
        aborted = False
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            aborted = True
            abort(net, before)
            raise
        finally:
            if not aborted:
                net.stop()
