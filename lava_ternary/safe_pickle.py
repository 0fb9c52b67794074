"""Read pickled data files without running code: only plain containers and numpy arrays are rebuilt.

:func:`load_restricted` unpickles dicts, lists, tuples, str, bytes, int, float, bool and ``None``
(built by pickle opcodes, no import needed) and numpy arrays, through numpy's array reconstruction
callables only (:data:`ALLOWED_GLOBALS`: ``_reconstruct``, ``_frombuffer``, ``ndarray``, ``dtype``,
under numpy 1's ``numpy.core`` and numpy 2's ``numpy._core`` names). Any other global a pickle
names (``os.system``, ``builtins.eval``, a class) is refused before it is imported, so nothing in
the file runs. Object-dtype and structured arrays are refused as well (their elements could be
arbitrary objects). That is what the CIFAR-10/100 python batches need (``training.cifar``).

The file is read whole into memory first (at most ``max_bytes``, default :data:`MAX_BYTES`), so a
length field in the stream cannot make the reader allocate more than the file holds.
"""
from __future__ import annotations

import io
import os
import pickle
from typing import Any, FrozenSet, Tuple

import numpy as np

from lava_ternary.errors import LavaTernaryError

try:  # numpy >= 2 (and 1.26's forward alias)
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - older numpy
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

MAX_BYTES = 1 << 30
"""Largest pickle file read (1 GiB; a CIFAR-100 training batch is 155 MB)."""

_NUMPY_CORE = ("numpy.core", "numpy._core")
ALLOWED_GLOBALS: FrozenSet[Tuple[str, str]] = frozenset(
    {(f"{core}.multiarray", "_reconstruct") for core in _NUMPY_CORE}
    | {(f"{core}.numeric", "_frombuffer") for core in _NUMPY_CORE}
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")})
"""The ``(module, name)`` globals a restricted pickle may name: numpy's array reconstruction (and
``_codecs.encode``, with which Python 3 writes ``bytes`` at protocol 2; only its latin-1 form)."""


class UnsafePickleError(LavaTernaryError):
    """A pickle file that names a forbidden global or cannot be read; the message names the file."""


class _Refused(Exception):
    """A construct the restricted reader does not build (turned into :class:`UnsafePickleError`)."""


_NDARRAY = object()  # what the global numpy.ndarray resolves to: usable only as _reconstruct's first argument


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` as pickles call it: an empty plain array that BUILD then fills."""
    if subtype is not _NDARRAY or not isinstance(shape, tuple) or 0 not in shape:
        raise _Refused("numpy _reconstruct with other than (ndarray, an empty shape)")
    return _check_array(_np_reconstruct(np.ndarray, shape, typecode))


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's ``_frombuffer`` (protocol 5 arrays): a view of pickled bytes, reshaped."""
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype) or not isinstance(shape, tuple):
        raise _Refused("numpy _frombuffer with other than (bytes, dtype, shape)")
    return _check_array(np.frombuffer(buf, dtype=_check_dtype(dtype)).reshape(shape, order=order))


def _dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """``numpy.dtype`` as pickles call it, for a type code string only."""
    if not isinstance(obj, str):
        raise _Refused(f"numpy dtype of a {type(obj).__name__}")
    return _check_dtype(np.dtype(obj, bool(align), bool(copy)))


def _encode(text: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` call it: latin-1 only."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise _Refused("_codecs.encode other than of a str to latin-1")
    return text.encode("latin-1")


def _check_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"numpy dtype {dtype} (only plain numeric, string and bytes dtypes)")
    return dtype


def _check_array(array: np.ndarray) -> np.ndarray:
    if type(array) is not np.ndarray:
        raise _Refused(f"array type {type(array).__name__}")
    _check_dtype(array.dtype)
    return array


_SAFE = {"_reconstruct": _reconstruct, "_frombuffer": _frombuffer, "ndarray": _NDARRAY, "dtype": _dtype,
         "encode": _encode}
_DTYPE_STATE_FLAGS = 0  # numpy's flags field of a plain dtype's pickled state


class _Restricted(pickle._Unpickler):  # the Python implementation: its BUILD can be checked, the C one's not
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, path: str, encoding: str):
        super().__init__(io.BytesIO(data), encoding=encoding)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(f"file {self._path!r}: refusing to unpickle {module}.{name} (only plain "
                                    f"containers and numpy arrays are allowed in a data file; nothing was run)")
        return _SAFE[name]

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")

    def _build(self) -> None:
        """BUILD only on numpy arrays and dtypes, with states that keep them plain data."""
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype):
            if not (isinstance(state, tuple) and len(state) == 8 and state[2:5] == (None, None, None)
                    and state[7] == _DTYPE_STATE_FLAGS):
                raise _Refused("a numpy dtype state other than a plain one")
        elif not isinstance(inst, np.ndarray):
            raise _Refused(f"a {type(inst).__name__} with pickled state (only numpy arrays have one)")
        elif not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], np.dtype)
                  and isinstance(state[4], (bytes, str))):
            raise _Refused("a numpy array state other than (version, shape, dtype, fortran, raw bytes)")
        pickle._Unpickler.load_build(self)
        if isinstance(inst, np.ndarray):
            _check_array(inst)
        else:
            _check_dtype(inst)

    dispatch[pickle.BUILD[0]] = _build


def load_restricted(path: os.PathLike, *, encoding: str = "latin1", max_bytes: int = MAX_BYTES) -> Any:
    """Unpickle ``path`` allowing only plain containers, scalars and numpy arrays.

    Parameters
    ----------
    path : path
        The pickle file (Python 2 pickles are read too: ``encoding`` decodes their 8-bit strings).
    encoding : str
        Passed to :class:`pickle.Unpickler` (``'latin1'`` as the CIFAR loaders use).
    max_bytes : int
        Largest file size accepted.

    Raises
    ------
    UnsafePickleError
        One line naming the file: a forbidden global (nothing is imported or called), a file over
        ``max_bytes``, or a truncated / corrupt pickle.
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise UnsafePickleError(f"file {name!r}: {size} bytes is over the {max_bytes}-byte limit of a "
                                        f"data pickle")
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UnsafePickleError(f"file {name!r}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise UnsafePickleError(f"file {name!r}: over the {max_bytes}-byte limit of a data pickle")
    try:
        return _Restricted(raw, name, encoding).load()
    except UnsafePickleError:
        raise
    except _Refused as exc:
        raise UnsafePickleError(f"file {name!r}: refusing to unpickle {exc} (nothing was run)") from None
    except Exception as exc:  # any malformed stream: EOFError, UnpicklingError, ValueError, MemoryError, ...
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise UnsafePickleError(f"file {name!r}: not a readable data pickle ({type(exc).__name__}"
                                f"{': ' + detail if detail else ''})") from None
