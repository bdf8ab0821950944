"""Which code is the user's: the project a code fingerprint follows.

Code is the user's unless it lives in the standard library, an installed
distribution (site-packages), or flytelite itself. Code made at run time (a
notebook cell, `exec`) is the user's. Names of modules are canonical: a script
run as `__main__` is named as `flytelite run FILE` imports it, by its file's stem.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import types
from typing import Any

__all__ = [
    "canonical_module",
    "identity",
    "is_project_class",
    "is_project_function",
    "is_project_module",
    "qualname",
]


def _excluded_roots() -> tuple[str, ...]:
    roots = set()
    for scheme_path in ("stdlib", "platstdlib", "purelib", "platlib"):
        for base in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
            try:
                path = sysconfig.get_path(scheme_path, vars={"base": base, "platbase": base})
            except KeyError:  # pragma: no cover (an unusual scheme)
                continue
            if path:
                roots.add(os.path.realpath(path))
    try:
        import site

        roots.update(os.path.realpath(p) for p in site.getsitepackages())
        roots.add(os.path.realpath(site.getusersitepackages()))
    except (AttributeError, ImportError):  # pragma: no cover (site disabled)
        pass
    roots.add(os.path.dirname(os.path.realpath(__file__)))  # flytelite itself
    return tuple(sorted(r.rstrip(os.sep) + os.sep for r in roots))


_EXCLUDED: tuple[str, ...] | None = None


@functools.lru_cache(maxsize=4096)
def _project_file(filename: str) -> bool:
    """Whether code in `filename` is the user's (not the standard library, an installed
    distribution or flytelite). Code made at run time (`<string>`, a notebook cell) is."""
    global _EXCLUDED
    if filename.startswith("<frozen"):
        return False
    if not filename or filename.startswith("<"):
        return True
    if _EXCLUDED is None:
        _EXCLUDED = _excluded_roots()
    path = os.path.realpath(filename)
    if path.startswith(_EXCLUDED):
        return False
    parts = path.split(os.sep)
    return "site-packages" not in parts and "dist-packages" not in parts


def is_project_module(module: types.ModuleType) -> bool:
    """Whether `module` belongs to the user's project."""
    name = module.__name__
    if name == "flytelite" or name.startswith("flytelite."):
        return False
    top = name.partition(".")[0]
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        return False
    file = getattr(module, "__file__", None)
    if file:
        return _project_file(file)
    paths = list(getattr(module, "__path__", ()) or ())
    if paths:  # a namespace package
        return _project_file(os.path.join(paths[0], "__init__.py"))
    return True  # made at run time: a notebook's `__main__`, a module built with exec


def is_project_function(func: types.FunctionType) -> bool:
    return _project_file(func.__code__.co_filename) and not _is_flytelite(func.__module__)


def is_project_class(cls: type) -> bool:
    module = sys.modules.get(cls.__module__)
    if module is not None:
        return is_project_module(module)
    if cls.__module__ in ("builtins", None) or _is_flytelite(cls.__module__):
        return False
    for member in vars(cls).values():
        if isinstance(member, types.FunctionType):
            return is_project_function(member)
    return True


def _is_flytelite(module: str | None) -> bool:
    return bool(module) and (module == "flytelite" or module.startswith("flytelite."))  # type: ignore[union-attr]


def canonical_module(name: str) -> str:
    if name != "__main__":
        return name
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return str(spec.name)
    file = getattr(main, "__file__", None)
    if file:
        return str(os.path.splitext(os.path.basename(file))[0])
    return name


def qualname(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", type(obj).__name__))


def identity(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    return f"{canonical_module(module)}:{qualname(obj)}"
