"""Making `import flyte` resolve to flytelite's surface, and undoing it.

`install()` registers every module of `flytelite.compat.flyte` in
`sys.modules` under its `flyte` name (`flyte`, `flyte.errors`, `flyte.io`, ...),
so each is one module object whichever name imports it. A finder at the front
of `sys.meta_path` answers for every other `flyte.*` name with a clear
`ModuleNotFoundError`, so the real package, when installed, is never half
imported underneath. A real `flyte` already imported is set aside (its
modules, its `sys.excepthook`, its log handlers) and put back by `uninstall()`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import pkgutil
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["install", "is_installed", "uninstall"]

_SURFACE = "flytelite.compat.flyte"
_LOGGERS = ("flyte", "flyte.user")
_lock = threading.RLock()
_noticed = False


class _Installed:
    """What `install()` changed, for `uninstall()` to undo."""

    def __init__(self) -> None:
        self.registered: dict[str, types.ModuleType] = {}
        self.set_aside: dict[str, types.ModuleType] = {}
        self.excepthook: Any = None
        self.handlers: dict[str, list[logging.Handler]] = {}


_state: _Installed | None = None


class _SurfaceFinder(importlib.abc.MetaPathFinder):
    """Answers for `flyte.*` modules that the surface does not have."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "flyte" and not fullname.startswith("flyte."):
            return None
        # Every module of the surface is in `sys.modules` already: this one is not part of it.
        raise ModuleNotFoundError(
            f"No module named {fullname!r} in flytelite's Flyte 2 surface (flytelite.compat). "
            f"It offers flyte, flyte.errors, flyte.io, flyte.durable, flyte.report, "
            f"flyte.storage, flyte.types and flyte.git; run programs that need {fullname} "
            f"with the real `flyte` package.",
            name=fullname,
        )


_finder = _SurfaceFinder()


def _surface_modules() -> dict[str, types.ModuleType]:
    """Every module of the surface, imported, by its `flyte` name."""
    package = importlib.import_module(_SURFACE)
    modules = {"flyte": package}
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{_SURFACE}."):
        module = importlib.import_module(info.name)
        modules["flyte" + info.name[len(_SURFACE) :]] = module
    return modules


def _real_flyte(aside: dict[str, types.ModuleType]) -> str | None:
    """A description of the real `flyte` this install bypasses, if there is one."""
    if "flyte" in aside:
        return f"the imported flyte {_version(aside['flyte'])} is set aside"
    try:
        found = importlib.util.find_spec("flyte") is not None
    except (ImportError, ValueError):
        found = False
    return f"the installed flyte {_version(None)} is not used" if found else None


def _version(module: types.ModuleType | None) -> str:
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version("flyte")
        except Exception:
            version = "?"
    return str(version)


def install() -> None:
    """Make `import flyte` (and `flyte.errors`, `flyte.io`, `flyte.durable`, ...) give
    flytelite's Flyte 2 surface in this process, from now on.

    Where the real `flyte` package is installed or already imported, the
    surface wins, and says so once on stderr. Calling it again does nothing.
    Import the program after this call: a module that imported the real
    `flyte` before keeps it.
    """
    global _state, _noticed
    with _lock:
        if _state is not None:
            return
        installed = _Installed()
        aside = {
            name: module
            for name, module in list(sys.modules.items())
            if name == "flyte" or name.startswith("flyte.")
        }
        for name in aside:
            del sys.modules[name]
        installed.set_aside = aside
        bypassed = _real_flyte(aside)
        if aside and getattr(sys.excepthook, "__module__", "") == "flyte._excepthook":
            installed.excepthook = sys.excepthook
            sys.excepthook = sys.__excepthook__
        if aside:
            for name in _LOGGERS:
                log = logging.getLogger(name)
                installed.handlers[name] = list(log.handlers)
                for handler in installed.handlers[name]:
                    log.removeHandler(handler)
        try:
            installed.registered = _surface_modules()
        except BaseException:
            sys.modules.update(aside)
            raise
        sys.modules.update(installed.registered)
        sys.meta_path.insert(0, _finder)
        installed.registered["flyte._logging"].attach()
        _state = installed
        if bypassed and not _noticed:
            _noticed = True
            sys.stderr.write(
                f"flytelite: `import flyte` now gives flytelite's Flyte 2 surface "
                f"(flytelite.compat) in this process; {bypassed}.\n"
            )


def uninstall() -> None:
    """Undo `install()`: `import flyte` finds the real package again (if installed), and a
    real `flyte` that was imported before `install()` is back in `sys.modules`."""
    global _state
    with _lock:
        installed = _state
        if installed is None:
            return
        _state = None
        while _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        for name, module in installed.registered.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        sys.modules.update(installed.set_aside)
        if installed.excepthook is not None and sys.excepthook is sys.__excepthook__:
            sys.excepthook = installed.excepthook
        installed.registered["flyte._logging"].detach()
        for name, handlers in installed.handlers.items():
            log = logging.getLogger(name)
            for handler in handlers:
                log.addHandler(handler)
            log.propagate = False


def is_installed() -> bool:
    """Whether `install()` is in effect."""
    return _state is not None
