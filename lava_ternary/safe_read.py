"""Bounded extraction of the raw datasets of an untrusted netx HDF5 file, optionally in a child process.

This is the only module that lets ``libhdf5`` parse a network file for the reader
(:func:`lava_ternary.netfile.read_network`). It reads only the keys a consumer uses (:data:`LAYER_KEYS`,
:data:`NEURON_KEYS`) and checks each object's metadata before touching its data:

* the path must be a regular file (a FIFO, device, socket or directory is refused before opening);
* every link on the way must be a hard link (soft, external and user-defined links are refused), and no
  dataset may be virtual or keep its raw data in external files (they would read other files);
* every dataset must be numeric (bool, int, uint, float up to 8 bytes) or a single ASCII string, with a
  bounded rank, element count, chunk count and only HDF5's built-in filters (gzip, shuffle, fletcher32,
  szip, n-bit, scale-offset, lzf) — so a gzip or fill-value bomb is refused from its declared size;
* the layer count and the total number of elements read are bounded.

Every failure (including any exception ``h5py`` raises on a corrupted file) becomes one
:class:`~lava_ternary.errors.NetxFormatError` naming file, layer and key.

With :attr:`Limits.isolate` (the default) the parse runs in a forked child process under an address
space limit (``RLIMIT_AS``: the parent's size plus :attr:`Limits.memory_bytes`), a CPU-time limit and a
wall-clock timeout, so a segmentation fault, hang or memory blow-up inside ``libhdf5`` becomes one clear
error in the caller. The child sends back only JSON and ``np.save`` arrays (never pickles), through an
unlinked temporary file, which the parent then validates (:mod:`lava_ternary.netfile`). The limits are
the module-level :data:`LIMITS` object; each field can be preset with an environment variable
``LAVA_TERNARY_NETX_<FIELD>`` (upper case), see ``docs/netx_schema.md``.
"""
from __future__ import annotations

import contextlib
import faulthandler
import json
import math
import os
import resource
import select
import signal
import stat
import struct
import tempfile
import time
from dataclasses import dataclass, fields
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Tuple

import h5py
import numpy as np

from lava_ternary.errors import NetxFormatError

#: Layer-group keys any consumer reads (everything else in a file is never opened).
LAYER_KEYS = ("type", "shape", "weight", "weight_rec", "bias", "delay", "inFeatures", "outFeatures", "inChannels",
              "outChannels", "kernelSize", "stride", "padding", "dilation", "groups", "weightExp", "inputs",
              "shortcutWeight", "shortcutStride")
#: Neuron-group keys any consumer reads (TERNARY, CUBA/LOIHI, SDNN and RF neurons).
NEURON_KEYS = ("type", "iDecay", "vDecay", "vThMant", "refDelay", "messageBits", "resetMode", "spikeMode", "vInit",
               "amplitude", "weight_exp", "sigma_output", "sinDecay", "cosDecay")
#: Keys that may be a group: the neuron group, and a complex weight (``weight/real``, ``weight/imag``).
GROUP_KEYS = ("neuron", "weight")
#: Datasets of a complex weight group (RF / RF_IZ layers).
COMPLEX_KEYS = ("real", "imag")
#: HDF5 filters built into the library (and h5py's lzf); any other filter id would load a plugin.
BUILTIN_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf"}
MAX_RANK = 5

#: A raw layer: key -> np.ndarray (numbers), str (text) or dict (a sub-group's raw keys).
RawLayer = Dict[str, Any]


@dataclass
class Limits:
    """Bounds on what reading one network file may cost; change the fields of :data:`LIMITS` to raise them.

    Attributes
    ----------
    max_layers : int
        Layer groups in ``/layer``.
    max_dataset_elements : int
        Elements one dataset may declare (a dense weight of ``out x in`` counts ``out * in``).
    max_total_elements : int
        Elements all datasets of the file may declare together.
    max_chunks : int
        Chunks one chunked dataset may declare.
    max_layer_neurons : int
        Neurons of one layer (the product of its ``shape``; each entry is bounded by it too).
    max_string_bytes : int
        Length of a text dataset (``type``, ``resetMode``, ...).
    isolate : bool
        Parse in a child process (``fork``) with the limits below; without it the parse runs in-process
        (only for files you trust: a corrupted file can then crash or hang the caller).
    timeout_s : float
        Wall-clock limit of the child.
    memory_bytes : int
        Address space the child may add to the parent's.
    """

    max_layers: int = 1024
    max_dataset_elements: int = 1 << 25
    max_total_elements: int = 1 << 26
    max_chunks: int = 1 << 16
    max_layer_neurons: int = 1 << 24
    max_string_bytes: int = 64
    isolate: bool = True
    timeout_s: float = 60.0
    memory_bytes: int = 4 << 30

    @classmethod
    def from_env(cls, environ: Optional[Dict[str, str]] = None) -> "Limits":
        """Defaults, overridden by ``LAVA_TERNARY_NETX_<FIELD>`` variables (``0``/``1`` for ``isolate``)."""
        environ = os.environ if environ is None else environ
        limits = cls()
        for f in fields(cls):
            text = environ.get(f"LAVA_TERNARY_NETX_{f.name.upper()}")
            if text is None:
                continue
            kind = type(getattr(limits, f.name))
            try:
                value = bool(int(text)) if kind is bool else kind(float(text)) if kind is int else kind(text)
            except ValueError:
                raise ValueError(f"LAVA_TERNARY_NETX_{f.name.upper()}: expected a number, got {text!r}") from None
            setattr(limits, f.name, value)
        return limits


#: The limits every read uses unless a call passes its own.
LIMITS = Limits.from_env()


class _Extractor:
    """Walks the whitelisted keys of one open file; every problem is a NetxFormatError."""

    def __init__(self, path: str, limits: Limits):
        self.path, self.limits = path, limits
        self.total = 0

    def fail(self, layer: Optional[int], key: Optional[str], problem: str) -> NetxFormatError:
        return NetxFormatError(self.path, layer, key, problem)

    def child(self, group: h5py.Group, name: str, layer: Optional[int], key: str) -> Any:
        """``group[name]`` if it is a hard link, None if absent; soft/external/user links are refused."""
        link = group.get(name, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            kind = {h5py.SoftLink: "a soft link", h5py.ExternalLink: "an external link"}.get(type(link), "a link")
            raise self.fail(layer, key, f"is {kind}; only plain (hard-linked) objects are read")
        return group[name]

    def dataset(self, dset: h5py.Dataset, layer: Optional[int], key: str) -> Any:
        if dset.is_virtual:
            raise self.fail(layer, key, "is a virtual dataset (it would read other files)")
        if dset.external:
            raise self.fail(layer, key, "keeps its data in external files (they would be read)")
        dtype = dset.dtype
        text = h5py.check_string_dtype(dtype)
        if text is None and (dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None
                             or dtype.itemsize > 8):
            raise self.fail(layer, key, f"has the unsupported dtype {dtype} (numbers or one string expected)")
        shape = dset.shape
        if shape is None:
            raise self.fail(layer, key, "has an empty (null) dataspace")
        if len(shape) > MAX_RANK:
            raise self.fail(layer, key, f"has rank {len(shape)} (at most {MAX_RANK})")
        count = math.prod(int(s) for s in shape)
        if count > self.limits.max_dataset_elements:
            raise self.fail(layer, key, f"declares {count} elements (shape {shape}), more than the limit "
                                        f"{self.limits.max_dataset_elements} (LIMITS.max_dataset_elements)")
        self.total += count
        if self.total > self.limits.max_total_elements:
            raise self.fail(layer, key, f"the file declares more than {self.limits.max_total_elements} elements "
                                        "in all (LIMITS.max_total_elements)")
        self._storage(dset, shape, layer, key)
        if text is not None:
            return self._text(dset, count, shape, layer, key)
        return np.asarray(dset[()])

    def _storage(self, dset: h5py.Dataset, shape: Tuple[int, ...], layer: Optional[int], key: str) -> None:
        plist = dset.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code = plist.get_filter(i)[0]
            if code not in BUILTIN_FILTERS:
                raise self.fail(layer, key, f"uses the HDF5 filter {code} (only built-in filters are read: "
                                            f"{', '.join(BUILTIN_FILTERS.values())})")
        if dset.chunks is not None:
            chunks = math.prod(-(-int(s) // max(int(c), 1)) for s, c in zip(shape, dset.chunks))
            if chunks > self.limits.max_chunks:
                raise self.fail(layer, key, f"declares {chunks} chunks (limit {self.limits.max_chunks}, "
                                            "LIMITS.max_chunks)")

    def _text(self, dset: h5py.Dataset, count: int, shape: Tuple[int, ...], layer: Optional[int], key: str) -> str:
        if count != 1:
            raise self.fail(layer, key, f"expected one string, found shape {shape}")
        if dset.dtype.kind == "S" and dset.dtype.itemsize > self.limits.max_string_bytes:
            raise self.fail(layer, key, f"a string of {dset.dtype.itemsize} bytes (limit "
                                        f"{self.limits.max_string_bytes})")
        value = np.asarray(dset[()]).reshape(-1)[0]
        value = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        if len(value) > self.limits.max_string_bytes:
            raise self.fail(layer, key, f"a string of {len(value)} bytes (limit {self.limits.max_string_bytes})")
        try:
            return value.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(layer, key, f"expected ASCII text, found {value!r}") from None

    @contextlib.contextmanager
    def guard(self, layer: Optional[int], key: Optional[str]) -> Iterator[None]:
        """Turn any failure of h5py/libhdf5 on a corrupted object into a NetxFormatError at ``layer``/``key``."""
        try:
            yield
        except NetxFormatError:
            raise
        except MemoryError:
            raise self.fail(layer, key, "reading it needs more memory than allowed (LIMITS.memory_bytes in the "
                                        "parser process)") from None
        except Exception as exc:
            raise self.fail(layer, key, f"unreadable ({type(exc).__name__}: {exc})") from None

    def group(self, group: h5py.Group, keys: Tuple[str, ...], layer: int, prefix: str = "") -> RawLayer:
        raw: RawLayer = {}
        for key in keys:
            name = prefix + key
            with self.guard(layer, name):
                obj = self.child(group, key, layer, name)
                if obj is None:
                    continue
                if isinstance(obj, h5py.Group):
                    if key not in GROUP_KEYS or prefix:
                        raise self.fail(layer, name, "expected a dataset, found a group")
                    raw[key] = self.group(obj, NEURON_KEYS, layer, "neuron/") if key == "neuron" else \
                        self.group(obj, COMPLEX_KEYS, layer, "weight/")
                elif isinstance(obj, h5py.Dataset):
                    raw[key] = self.dataset(obj, layer, name)
                else:
                    raise self.fail(layer, name, f"expected a dataset, found {type(obj).__name__}")
        return raw

    def network(self) -> List[RawLayer]:
        check_regular_file(self.path)
        try:
            handle = h5py.File(self.path, "r")
        except Exception as exc:
            raise self.fail(None, None, f"not an HDF5 file ({type(exc).__name__}: {exc})") from None
        with self.guard(None, "layer"), handle:
            root = self.child(handle, "layer", None, "layer")
            if not isinstance(root, h5py.Group):
                raise self.fail(None, "layer", "missing the 'layer' group")
            count = len(root)
            if count == 0:
                raise self.fail(None, "layer", "the network has no layers")
            if count > self.limits.max_layers:
                raise self.fail(None, "layer", f"{count} layers, more than the limit {self.limits.max_layers} "
                                               "(LIMITS.max_layers)")
            layers = []
            for i in range(count):
                with self.guard(i, None):
                    group = self.child(root, str(i), i, None)
                    if group is None:
                        raise self.fail(None, "layer", f"layer groups must be named 0..{count - 1}; '{i}' is missing")
                    if not isinstance(group, h5py.Group):
                        raise self.fail(i, None, "expected a group")
                layers.append(self.group(group, LAYER_KEYS + ("neuron",), i))
        return layers


def check_regular_file(path: str) -> None:
    """Raise NetxFormatError unless ``path`` names an existing, non-empty regular file (symlinks followed)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise NetxFormatError(path, None, None, "no such file") from None
    except OSError as exc:
        raise NetxFormatError(path, None, None, f"cannot access the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise NetxFormatError(path, None, None, "is a directory, not a network file")
    if not stat.S_ISREG(info.st_mode):
        raise NetxFormatError(path, None, None, "is not a regular file (a FIFO, device or socket is never read)")
    if info.st_size == 0:
        raise NetxFormatError(path, None, None, "is empty (not an HDF5 file)")


def extract(path: str, limits: Optional[Limits] = None) -> List[RawLayer]:
    """The raw whitelisted keys of every layer of ``path``, in this process (no isolation)."""
    return _Extractor(path, LIMITS if limits is None else limits).network()


# ----------------------------------------------------------------------------- the child process
def extract_isolated(path: str, limits: Optional[Limits] = None) -> List[RawLayer]:
    """:func:`extract` in a forked child with memory, CPU and wall-clock limits (in-process without ``fork``).

    Raises
    ------
    NetxFormatError
        For every bad file, and when the child crashes, runs out of memory or time.
    """
    limits = LIMITS if limits is None else limits
    check_regular_file(path)
    if not hasattr(os, "fork"):
        return extract(path, limits)
    # the answer goes to an unlinked temporary file (no pipe-sized round trips for large weights);
    # the pipe only tells the parent when the child has ended (its end closes on exit)
    with tempfile.TemporaryFile() as answer:
        read_fd, write_fd = os.pipe()
        # h5py serialises all calls with one lock: holding it across fork() means no other thread of ours
        # holds it in the child, whose only thread is this one
        with h5py._objects.phil:
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read_fd)
            _child(path, limits, answer.fileno())
        os.close(write_fd)
        try:
            status = _wait(pid, read_fd, limits.timeout_s)
        finally:
            os.close(read_fd)
        if status is None:
            raise NetxFormatError(path, None, None, f"parsing took longer than {limits.timeout_s:g} s "
                                                    "(LIMITS.timeout_s); the file is corrupted or far too large")
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            reason = ("ran past its CPU-time limit" if sig == signal.SIGXCPU
                      else f"was killed by {signal.Signals(sig).name}")
            raise NetxFormatError(path, None, None, f"the HDF5 parser {reason} (a corrupted file)")
        answer.seek(0)
        try:
            return _decode(path, answer)
        except NetxFormatError:
            raise
        except Exception as exc:  # a child that died half-way through its answer
            raise NetxFormatError(path, None, None, f"the HDF5 parser gave a broken answer "
                                                    f"({type(exc).__name__})") from None


def _child(path: str, limits: Limits, fd: int) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        faulthandler.disable()  # a parser crash is reported by the parent, without a dump of this process
        _limit_resources(limits)
        with os.fdopen(fd, "wb", closefd=False) as out:
            try:
                layers = extract(path, limits)
            except NetxFormatError as err:
                _write_error(out, err)
            except MemoryError:
                _write_error(out, NetxFormatError(path, None, None, "parsing needs more memory than allowed "
                                                                    "(LIMITS.memory_bytes)"))
            else:
                _write(out, layers)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _limit_resources(limits: Limits) -> None:  # pragma: no cover - runs in the child
    try:  # die with the parent
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    cpu = int(math.ceil(limits.timeout_s)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        with open("/proc/self/statm") as fh:
            current = int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:
        return
    cap = current + int(limits.memory_bytes)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _wait(pid: int, fd: int, timeout_s: float) -> Optional[int]:
    """The child's wait status once ``fd`` (its end of a pipe) closes; None if it ran past ``timeout_s`` (killed)."""
    deadline = time.monotonic() + timeout_s
    status = None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if ready and os.read(fd, 4096) == b"":
                status = _reap(pid)
                break
    finally:
        if status is None:  # out of time, or interrupted (KeyboardInterrupt, an alarm): never leave it behind
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
    return status


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # SIGCHLD ignored by the caller: the child was reaped already, its answer tells
        return 0


# ----------------------------------------------------------------------------- the wire format
# <8-byte header length><JSON header><np.save arrays in order>; the header holds the layers with
# arrays replaced by {"a": index}, strings by {"s": text}, groups by {"g": {...}}; or an error.
def _write(out: BinaryIO, layers: List[RawLayer]) -> None:
    arrays: List[np.ndarray] = []

    def node(value: Any) -> Any:
        if isinstance(value, dict):
            return {"g": {k: node(v) for k, v in value.items()}}
        if isinstance(value, str):
            return {"s": value}
        arrays.append(value)
        return {"a": len(arrays) - 1}

    header = json.dumps({"layers": [node(layer)["g"] for layer in layers]}).encode()
    out.write(struct.pack("<Q", len(header)) + header)
    for array in arrays:
        np.save(out, np.asarray(array, order="C"), allow_pickle=False)


def _write_error(out: BinaryIO, err: NetxFormatError) -> None:
    header = json.dumps({"error": [err.layer, err.key, err.problem]}).encode()
    out.write(struct.pack("<Q", len(header)) + header)


def _decode(path: str, stream: BinaryIO) -> List[RawLayer]:
    head = stream.read(8)
    if len(head) < 8:
        raise NetxFormatError(path, None, None, "the HDF5 parser stopped without an answer (a corrupted file "
                                                "or the memory limit)")
    size = struct.unpack("<Q", head)[0]
    header = json.loads(stream.read(size).decode())
    if "error" in header:
        layer, key, problem = header["error"]
        raise NetxFormatError(path, layer, key, problem)

    def node(value: Dict[str, Any]) -> Any:
        if "g" in value:
            return {k: node(v) for k, v in value["g"].items()}
        if "s" in value:
            return value["s"]
        return np.load(stream, allow_pickle=False)

    return [node({"g": layer}) for layer in header["layers"]]


def read_raw(path: str, limits: Optional[Limits] = None) -> List[RawLayer]:
    """The raw layers of ``path``: isolated in a child process when ``limits.isolate``, else in-process."""
    limits = LIMITS if limits is None else limits
    return extract_isolated(path, limits) if limits.isolate else extract(path, limits)
