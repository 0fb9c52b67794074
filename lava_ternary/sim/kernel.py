"""The simulator's compiled neuron loop: :func:`lava_ternary.fixed.step` over ``[T, B, N]``, one fused pass.

numba compiles the integer step of :mod:`lava_ternary.fixed` (the same functions the Lava ``fixed_pt``
model runs on arrays) into a loop over batch rows, steps and neurons. One pass reads the synaptic
input and writes the spikes twice: as the next layer's float32 messages (time-major ``[T, B, N]``)
and, when recorded, as int8 ``[B, T, N]``. The loop releases the GIL, so the simulator runs slices of
a batch on threads.

The compiled machine code is cached on disk across processes in :func:`cache_dir`, a folder named by a
hash of this file, :mod:`lava_ternary.fixed` (whose functions numba inlines here), numba's and Python's
versions: an edit of either source selects a new folder, so stale code is never loaded (numba's own
cache keys on this file's timestamp only). numba writes cache files to a temporary name and renames
them, so concurrent processes share the folder safely. ``LAVA_TERNARY_CACHE_DIR`` overrides the parent
folder (default ``$XDG_CACHE_HOME/lava-ternary`` or ``~/.cache/lava-ternary``); ``LAVA_TERNARY_NO_CACHE=1``
compiles in every process. Where the folder cannot be written the loops compile in every process.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
from pathlib import Path
from typing import Optional, Sequence

import numba
import numpy as np
from numba import njit
from numba.extending import register_jitable

from lava_ternary import fixed

for _function in fixed.JITABLE:  # numba compiles the one integer step itself, not a copy of it
    register_jitable(_function)

#: the sources compiled into the loops: the cache folder's name is a hash of them
SOURCES = (Path(__file__).resolve(), Path(fixed.__file__).resolve())


def source_digest(paths: Sequence[Path] = SOURCES) -> str:
    """A hash of the files' bytes and of numba's and Python's versions (the cache key of the compiled loops)."""
    h = hashlib.sha256(f"numba {numba.__version__} python {platform.python_version()}".encode())
    for path in paths:
        data = Path(path).read_bytes()
        h.update(f"{Path(path).name} {len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()[:20]


def cache_dir(paths: Sequence[Path] = SOURCES) -> Path:
    """The folder of the compiled loops for the current sources: ``<parent>/numba-<source_digest>``."""
    parent = os.environ.get("LAVA_TERNARY_CACHE_DIR")
    if not parent:
        parent = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lava-ternary"
    return Path(parent) / f"numba-{source_digest(paths)}"


def _install_cache() -> Optional[Path]:
    """Route numba's cache of this module's functions (only) to :func:`cache_dir`; None when caching is off."""
    if os.environ.get("LAVA_TERNARY_NO_CACHE"):
        return None
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        base = caching._UserProvidedCacheLocator
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            return None
    except (ImportError, AttributeError, OSError):  # numba without these internals, or no writable folder
        return None
    here, stamp = str(SOURCES[0]), source_digest()

    class KernelCacheLocator(base):
        """numba cache locator for this file's functions: the hashed folder, the source hash as the stamp."""

        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            self._cache_path = str(folder)

        def get_source_stamp(self):
            return stamp

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.realpath(py_file) != here:
                return None
            return caching._SourceFileBackedLocatorMixin.from_function.__func__(cls, py_func, py_file)

    impl._locator_classes = [KernelCacheLocator] + [c for c in impl._locator_classes
                                                    if c.__name__ != KernelCacheLocator.__name__]
    return folder


#: the folder the compiled loops are cached in (None: compiled in every process)
CACHE = _install_cache()


def fixed_decay(amounts: np.ndarray) -> int:
    """A decay worth compiling in as a constant, or -1: uniform, and leaving a power of two (or 0) of 4096.

    Such a decay makes the integer step's multiplication a shift (or nothing) once LLVM sees the value;
    other values stay runtime arguments, so random decays do not each compile a new loop.
    """
    if amounts.size == 0 or not (amounts == amounts[0]).all():
        return -1
    keep = fixed.DECAY_UNITY - int(amounts[0])
    return int(amounts[0]) if keep & (keep - 1) == 0 else -1


@functools.lru_cache(maxsize=None)
def _group_loop(soft_reset: bool, binary: bool, magnitude: bool, i_const: int, v_const: int, voltage: bool):
    """The compiled loop for one combination of modes and constant decays (closure constants: branch-free).

    The parameters hold one value per block of ``N // len(vth)`` consecutive neurons (a channel, the
    whole layer, or one neuron), so that the inner loop over a block sees scalars and vectorises.
    ``voltage`` records the voltage after each step instead of the spikes (a neuron-less readout).
    """

    @njit(nogil=True, cache=CACHE is not None)
    def rows(acc, slot, lag, phase, i_decay, v_decay, vth, bias, v_init, restart, pad, nxt, rec, active):
        steps = slot.shape[0]
        batch = acc.shape[1]
        n_neurons = nxt.shape[2]
        size = n_neurons // vth.shape[0]
        u = np.zeros(n_neurons, np.int64)
        v = np.empty(n_neurons, np.int64)
        silent = np.zeros(n_neurons, acc.dtype)
        for b in range(batch):
            u[:] = 0
            for g in range(vth.shape[0]):
                v[g * size:(g + 1) * size] = v_init[g]
            row = b - pad
            keep = 0 <= row < rec.shape[0]
            for t in range(steps):
                out = nxt[t, b]
                if (restart and t == 0) or (b - pad) * steps + t + phase < 0:  # reset step, or before the run
                    out[:] = 0
                    if keep:
                        rec[row, t] = 0
                    continue
                pos = b * steps + t - lag
                src_b = pos // steps
                k = slot[pos - src_b * steps] if 0 <= src_b < batch else -1
                src = acc[k, src_b] if k >= 0 else silent
                fired = 0
                for g in range(vth.shape[0]):
                    idec = i_const if i_const >= 0 else i_decay[g]
                    vdec = v_const if v_const >= 0 else v_decay[g]
                    th, bi = vth[g], bias[g]
                    base = np.uint64(g * size)
                    for i in range(size):
                        n = base + np.uint64(i)  # unsigned: no negative-index wraparound, so LLVM vectorises
                        u[n], v[n], s = fixed.step(u[n], v[n], np.int64(np.int32(src[n])), idec, vdec, th, bi,
                                                   soft_reset, binary)
                        out[n] = s  # float32: an int8 store here would stop the vectorisation
                        fired |= s
                if fired != 0:
                    active[t] = True
                if keep and voltage:
                    rec[row, t] = v
                elif keep:
                    rec[row, t] = out
                if magnitude and fired != 0:
                    out[:] = np.abs(out)

    return rows


def run_group(neuron, acc: np.ndarray, slot: np.ndarray, *, lag: int, phase: int, pad: int,
              rec: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Run one neuron group over a whole batch from its reset state.

    Parameters
    ----------
    neuron : lava_ternary.sim.SimNeuron
        The group: per-block parameters and modes (0 ``message_bits``: consumers see ``|s|``, as Lava
        casts the spike to ``bool``).
    acc : np.ndarray
        The synaptic input of the computed producer frames as the neurons receive it, ``[K, B, N]``:
        float32 holding integers below ``2**24``, or int64 within the 32-bit channel.
    slot : np.ndarray
        ``(T,)`` int64: the row of ``acc`` holding producer step ``t``, or -1 where that step sends nothing
        (or is never read).
    lag : int
        Steps between a producer's message and the consumer step that integrates it: consumer
        ``(b, t)`` reads producer stream position ``b * T + t - lag`` (batch rows are consecutive samples).
    phase : int
        The group's window phase: window step ``t`` of row ``b`` is stream step ``(b - pad) * T + t + phase``;
        steps before the Lava run starts (negative) hold the reset state and send nothing.
    pad : int
        Leading batch rows that are zero padding (not recorded).
    rec : np.ndarray
        ``[B - 2 * pad, T, N]`` that receives the spikes (int8), or the voltages (int32) of a group with
        ``record_voltage`` (every entry is written), or ``[0, T, N]`` to record nothing.
    nxt : np.ndarray
        float32 ``[T, B, N]`` that receives the messages as consumers see them (every entry is written).

    Returns
    -------
    np.ndarray
        ``(T,)`` bool: steps at which some neuron of some row fired.
    """
    steps = slot.shape[0]
    active = np.zeros(steps, np.bool_)
    p = neuron
    _group_loop(bool(p.soft_reset), bool(p.binary), p.message_bits <= 0, fixed_decay(p.i_decay),
                fixed_decay(p.v_decay), bool(p.record_voltage))(
        np.ascontiguousarray(acc), slot, int(lag), int(phase), p.i_decay, p.v_decay, p.vth, p.bias, p.v_init,
        bool(p.restart), pad, nxt, rec, active)
    return active


@njit(nogil=True, cache=CACHE is not None)
def time_major(x, binary, msgs, active, same):
    """``msgs[t, b, n] = x[b, n, t]`` (``x != 0`` if ``binary``), with ``active[t]`` (some message at step ``t``)
    and ``same[t]`` (step ``t`` repeats step ``t - 1`` in every row), in one pass over the input."""
    batch, size, steps = x.shape
    active[:] = False
    same[:] = True
    same[0] = False
    for b in range(batch):
        for n in range(size):
            prev = 0
            for t in range(steps):
                val = x[b, n, t]
                if binary and val != 0:
                    val = 1
                msgs[t, b, n] = val
                if val != 0:
                    active[t] = True
                if val != prev and t > 0:
                    same[t] = False
                prev = val
