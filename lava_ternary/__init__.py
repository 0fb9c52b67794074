"""lava-ternary: ternary-spike ({-1, 0, +1}) SNNs from lava-dl SLAYER training to netx, Lava and Loihi 2.

Importing the package installs the Python 3.11 import fix for lava-nc (see :mod:`lava_ternary.compat`)
so that every later ``import lava...`` works. Heavy modules (torch, lava) are imported lazily by the
submodules that need them.
"""
from lava_ternary import compat as _compat

__version__ = "0.1.0"

_compat.install()


def __getattr__(name: str):
    """``lava_ternary.verify(model, net_file, x)``: check a model against its netx file
    (:func:`lava_ternary.verification.verify`, imported on first use: it needs torch and lava)."""
    if name == "verify":
        from lava_ternary.verification import verify

        return verify
    raise AttributeError(f"module 'lava_ternary' has no attribute {name!r}")
