"""The public surface: `__all__` lists exactly what is public, and import stays clean."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import flytelite
import flytelite.catalog


def public_names(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }


def test_all_lists_every_public_name() -> None:
    lazy = {"DaskExecutor", "RunCancelled"}  # loaded on first use, not with `import flytelite`
    assert set(flytelite.__all__) == public_names(flytelite) | {"__version__"} | lazy
    assert all(getattr(flytelite, name) is not None for name in lazy)
    assert flytelite.__all__ == sorted(flytelite.__all__)
    assert set(flytelite.catalog.__all__) == public_names(flytelite.catalog)


PUBLIC_MODULES = [
    "flytelite",
    "flytelite.catalog",
    "flytelite.connectors",
    "flytelite.lowlevel",
    "flytelite.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_module_lists_what_it_offers(name: str) -> None:
    # As anyio's test does: `__all__` is sorted, each name resolves, and every
    # public function or class has a docstring.
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__), name
    for attr in module.__all__:
        value = getattr(module, attr)
        if callable(value) and not isinstance(value, type(sys)):
            assert (getattr(value, "__doc__", None) or "").strip(), f"{name}.{attr}"


def test_public_classes_belong_to_the_package() -> None:
    for name in flytelite.__all__:
        value = getattr(flytelite, name)
        if isinstance(value, type):
            assert value.__module__ == "flytelite", name


def test_errors_share_one_root() -> None:
    for name in flytelite.__all__:
        value = getattr(flytelite, name)
        if (
            isinstance(value, type)
            and issubclass(value, Exception)
            and not issubclass(value, Warning)
        ):
            assert issubclass(value, flytelite.FlyteliteError), name


def test_import_has_no_side_effects_and_skips_optional_dependencies() -> None:
    code = (
        "import sys, threading, logging; before = threading.active_count(); "
        "hook = sys.excepthook; import flytelite; "
        "assert threading.active_count() == before, 'a thread was started'; "
        "assert sys.excepthook is hook, 'excepthook changed'; "
        "assert not logging.getLogger().handlers, 'logging configured'; "
        "heavy = [m for m in ('numpy', 'pandas', 'fsspec', 'cloudpickle', 'anyio', 'dask', "
        "'rich', 'asyncio', 'flytelite.catalog', 'opentelemetry') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
