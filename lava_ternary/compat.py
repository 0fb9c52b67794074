"""Python 3.11 compatibility for lava-nc 0.10.0, applied by ``import lava_ternary``.

lava-nc 0.10.0 (the last release) declares Python <3.11. On 3.11 one module fails to import:
``lava/magma/compiler/var_model.py`` gives three dataclasses an instance of the dataclass
``ByteEncoder`` as a field default, and Python 3.11 rejects unhashable (mutable) defaults with
``ValueError: mutable default ... use default_factory``.

:func:`install` puts a meta-path finder in front of the import system that loads that one module
from its own source with ``X: ByteEncoder = ByteEncoder()`` rewritten to
``X: ByteEncoder = field(default_factory=ByteEncoder)``. Nothing in site-packages is edited and no
bytecode is cached for the rewritten module. On a Python where the module imports unpatched
(< 3.11) that rewrite is skipped.

The same hook makes ``lava/magma/runtime/message_infrastructure/multiprocessing.py`` call
``mp.set_start_method('fork', force=True)``: lava sets the start method at import time and fails
with ``RuntimeError: context has already been set`` when anything (tqdm's lock, for one) has touched
multiprocessing's default context first. lava needs ``fork`` in any case.

If your code imports ``lava`` before ``lava_ternary``, either import ``lava_ternary`` first or put
the hook in interpreter start-up once per environment::

    python -m lava_ternary.compat --install-pth

which writes ``lava_ternary_compat.pth`` into site-packages (set ``LAVA_TERNARY_NO_PTH=1`` to
disable it for one process).
"""
from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import sysconfig
from pathlib import Path

TARGET = "lava.magma.compiler.var_model"
MP_TARGET = "lava.magma.runtime.message_infrastructure.multiprocessing"
PTH_NAME = "lava_ternary_compat.pth"
_START_METHOD = re.compile(r"mp\.set_start_method\('fork'\)")
_MUTABLE_DEFAULT = re.compile(r"^([ \t]+\w+[ \t]*:[ \t]*ByteEncoder[ \t]*=[ \t]*)ByteEncoder\(\)[ \t]*$", re.MULTILINE)


def needs_patch() -> bool:
    """True on Pythons whose dataclasses reject lava's mutable ``ByteEncoder`` defaults."""
    return sys.version_info >= (3, 11)


def patch_start_method(source: str) -> str:
    """Make lava's import-time ``set_start_method('fork')`` tolerate an already-set context."""
    return _START_METHOD.sub("mp.set_start_method('fork', force=True)", source)


def patch_source(source: str) -> str:
    """Rewrite ``X: ByteEncoder = ByteEncoder()`` fields to use ``default_factory``."""
    return _MUTABLE_DEFAULT.sub(r"\1__import__('dataclasses').field(default_factory=ByteEncoder)", source)


def _patches() -> dict:
    """Source rewrites per module name for this Python."""
    patches = {MP_TARGET: patch_start_method}
    if needs_patch():
        patches[TARGET] = patch_source
    return patches


class _PatchedLoader(importlib.machinery.SourceFileLoader):
    """Source loader that compiles the patched source and never writes bytecode."""

    def get_code(self, fullname):  # noqa: D102 - importlib protocol
        source = self.get_data(self.path).decode("utf-8")
        return compile(_patches()[fullname](source), self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the patched modules through the normal path machinery and swaps in the patched loader."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 - importlib protocol
        if fullname not in _patches():
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        spec.loader = _PatchedLoader(fullname, spec.origin)
        return spec


def install() -> bool:
    """Install the import hook once; return True when it is active."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    return True


def install_pth(site_dir: str | None = None) -> Path:
    """Write a ``.pth`` file so every interpreter of this environment installs the hook at start-up."""
    target = Path(site_dir or sysconfig.get_paths()["purelib"]) / PTH_NAME
    line = ("import os; os.environ.get('LAVA_TERNARY_NO_PTH') or "
            "__import__('lava_ternary.compat', fromlist=['install']).install()\n")
    tmp = target.with_suffix(".pth.tmp")
    tmp.write_text(line)
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m lava_ternary.compat --install-pth``."""
    parser = argparse.ArgumentParser(prog="python -m lava_ternary.compat", description=__doc__.splitlines()[0])
    parser.add_argument("--install-pth", action="store_true", help="install the start-up hook into site-packages")
    args = parser.parse_args(argv)
    if args.install_pth:
        print(f"installed {install_pth()}")
    else:
        print(f"patch needed: {needs_patch()}; hook active: {install()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
