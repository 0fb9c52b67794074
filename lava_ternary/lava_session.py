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
  ``SystemExit(128 + signal)``, so they unwind like Ctrl-C's ``KeyboardInterrupt``; all three are
  recorded and raised again between ``run`` calls in case Lava code swallowed the exception;
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
from typing import Any, Iterator, List, Set

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


def _interrupt(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)


class Interrupts:
    """The signals a session received, and the processes that existed before it (see :func:`abort`).

    A handler's exception can be swallowed where it lands (a ``__del__``, a finaliser: Python prints
    "Exception ignored" and goes on), so :meth:`check` raises it again between ``run`` calls.
    """

    def __init__(self, before: Set[Any]) -> None:
        self.before = before
        self.signals: List[int] = []

    def handler(self, signum: int, frame: Any) -> None:
        """Record ``signum`` and raise ``KeyboardInterrupt`` (SIGINT) or ``SystemExit(128 + signum)``."""
        self.signals.append(signum)
        raise _interrupt(signum)

    def check(self) -> None:
        """Raise the first received signal's exception again, if any."""
        if self.signals:
            raise _interrupt(self.signals[0])


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
def bound_workers() -> Iterator[Interrupts]:
    """Processes forked inside die with this one; SIGTERM/SIGHUP/SIGINT unwind as exceptions.

    SIGTERM and SIGHUP raise ``SystemExit(128 + signal)``, SIGINT ``KeyboardInterrupt``; their
    handlers are replaced only from the main thread and only where they are Python's defaults
    (``SIG_DFL``, or ``default_int_handler`` for SIGINT), and restored on exit. Yields the
    session's :class:`Interrupts`.
    """
    interrupts = Interrupts(set(multiprocessing.active_children()))
    parent = _Parent()
    multiprocessing.util.register_after_fork(parent, _die_with_parent)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS + ("SIGINT",):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
                previous[signum] = signal.signal(signum, interrupts.handler)
    try:
        yield interrupts
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        del parent  # the after-fork registry holds it weakly: this ends the registration


@contextlib.contextmanager
def lava_session(net: Any) -> Iterator[Interrupts]:
    """Run ``net`` (a Lava process) inside: stopped on exit, aborted on an interrupt, no orphaned worker.

    Call the yielded :meth:`Interrupts.check` after each ``net.run``; a signal whose exception was
    swallowed inside Lava is also raised when the block ends.

    Parameters
    ----------
    net : lava.magma.core.process.process.AbstractProcess
        The process whose ``run`` calls the block makes (its runtime is stopped or aborted on exit).
    """
    with bound_workers() as interrupts:
        aborted = False
        try:
            yield interrupts
            interrupts.check()
        except (KeyboardInterrupt, SystemExit):
            aborted = True
            abort(net, interrupts.before)
            raise
        finally:
            if not aborted:
                net.stop()
