"""`flyte.types`: Flyte 2's type-engine names, for programs that register their own types.

flytelite passes Python values between tasks as they are (see `_convert` for
the two conversions it does make), so there are no literals to turn values
into. A `TypeTransformer` subclass can still be defined and registered with
`TypeEngine.register(...)`: it is recorded, `TypeEngine.get_transformer(t)`
finds it, and it is never called to convert a value. Converting to and from
Flyte literals raises `UnsupportedFeatureError`.
"""

from __future__ import annotations

import threading
import typing
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from ._notice import UnsupportedFeatureError

__all__ = [
    "FlytePickle",
    "Renderable",
    "TypeEngine",
    "TypeTransformer",
    "TypeTransformerFailedError",
]

T = TypeVar("T")

_NO_LITERALS = "flytelite passes Python values between tasks as they are; there are no literals."


class TypeTransformerFailedError(TypeError, AssertionError, ValueError):
    """Raised when a value does not fit the type a transformer handles."""


class FlytePickle(Generic[T]):
    """The type of a value Flyte 2 would pickle: locally every value is passed as it is
    (and pickled when a cached task stores it)."""

    @classmethod
    def python_type(cls) -> type[Any]:
        """The pickled type (`NoneType` when not given, as in Flyte 2)."""
        return type(None)

    def __class_getitem__(cls, python_type: Any) -> Any:
        if python_type is None:
            return cls

        class _Specific(FlytePickle):  # type: ignore[type-arg]
            __origin__ = FlytePickle

            @classmethod
            def python_type(cls) -> type[Any]:
                return typing.cast("type[Any]", python_type)

        return _Specific


@runtime_checkable
class Renderable(Protocol):
    """A value that renders itself as HTML in a `flyte.report`."""

    def to_html(self, python_value: Any) -> str:
        """The HTML of `python_value`."""
        ...


class TypeTransformer(Generic[T]):
    """A custom type's conversion to and from Flyte literals (recorded; see the module)."""

    def __init__(self, name: str, t: type[T], enable_type_assertions: bool = True) -> None:
        self._name = name
        self._t = t
        self._type_assertions_enabled = enable_type_assertions

    @property
    def name(self) -> str:
        """The transformer's name."""
        return self._name

    @property
    def python_type(self) -> type[T]:
        """The Python type it handles."""
        return self._t

    @property
    def type_assertions_enabled(self) -> bool:
        """Whether values are checked against `python_type`."""
        return self._type_assertions_enabled

    def assert_type(self, t: type[T], v: T) -> None:
        """Raise `TypeTransformerFailedError` unless `v` is a `t`."""
        if self._type_assertions_enabled and isinstance(t, type) and not isinstance(v, t):
            raise TypeTransformerFailedError(f"Expected value of type {t} but got {v!r}")

    def get_literal_type(self, t: type[T] | None = None) -> Any:
        """The Flyte literal type (override it in a subclass)."""
        raise NotImplementedError(f"{type(self).__name__}.get_literal_type")

    async def to_literal(self, python_val: T, python_type: type[T], expected: Any) -> Any:
        """A Flyte literal of `python_val` (override it in a subclass)."""
        raise NotImplementedError(f"{type(self).__name__}.to_literal")

    async def to_python_value(self, lv: Any, expected_python_type: type[T]) -> T:
        """The value of a Flyte literal (override it in a subclass)."""
        raise NotImplementedError(f"{type(self).__name__}.to_python_value")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, t={self._t!r})"


class TypeEngine:
    """The registry of type transformers (recorded: values are never converted locally)."""

    _REGISTRY: ClassVar[dict[Any, TypeTransformer[Any]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(
        cls, transformer: TypeTransformer[Any], additional_types: list[Any] | None = None
    ) -> None:
        """Record `transformer` for its type (and `additional_types`); a type registered
        twice is a `ValueError`, as in Flyte 2."""
        with cls._lock:
            for t in [transformer.python_type, *(additional_types or [])]:
                existing = cls._REGISTRY.get(t)
                if existing is not None:
                    raise ValueError(
                        f"Transformer {existing.name} for type {t} is already registered."
                        f" Cannot override with {transformer.name}"
                    )
                cls._REGISTRY[t] = transformer

    @classmethod
    def register_additional_type(
        cls, transformer: TypeTransformer[Any], additional_type: Any, override: bool = False
    ) -> None:
        """Record `transformer` for one more type."""
        with cls._lock:
            if additional_type not in cls._REGISTRY or override:
                cls._REGISTRY[additional_type] = transformer

    @classmethod
    def get_transformer(cls, python_type: Any) -> TypeTransformer[Any]:
        """The transformer registered for `python_type` (or a base class of it)."""
        for t in getattr(python_type, "__mro__", (python_type,)):
            found = cls._REGISTRY.get(t)
            if found is not None:
                return found
        raise ValueError(f"Type {python_type} has no registered transformer in flytelite.")

    @classmethod
    def get_available_transformers(cls) -> typing.KeysView[Any]:
        """The types that have a registered transformer."""
        return cls._REGISTRY.keys()

    @classmethod
    def lazy_import_transformers(cls) -> None:
        """Nothing to import locally."""

    @classmethod
    def to_literal_type(cls, python_type: Any) -> Any:
        """Raises `UnsupportedFeatureError`: there are no literals locally."""
        raise UnsupportedFeatureError("flyte.types.TypeEngine.to_literal_type", _NO_LITERALS)

    @classmethod
    async def to_literal(cls, python_val: Any, python_type: Any, expected: Any) -> Any:
        """Raises `UnsupportedFeatureError`: there are no literals locally."""
        raise UnsupportedFeatureError("flyte.types.TypeEngine.to_literal", _NO_LITERALS)

    @classmethod
    async def to_python_value(cls, lv: Any, expected_python_type: Any) -> Any:
        """Raises `UnsupportedFeatureError`: there are no literals locally."""
        raise UnsupportedFeatureError("flyte.types.TypeEngine.to_python_value", _NO_LITERALS)

    @classmethod
    def guess_python_type(cls, flyte_type: Any) -> Any:
        """Raises `UnsupportedFeatureError`: there are no literals locally."""
        raise UnsupportedFeatureError("flyte.types.TypeEngine.guess_python_type", _NO_LITERALS)
