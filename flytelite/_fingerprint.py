"""Code fingerprints: auto cache versions that follow the code a task runs.

A task without an explicit `cache_version` is versioned by the fingerprint of
everything in the user's own code that it can reach:

- its code object as loaded (never the file on disk, so a module edited after
  import is seen as it runs), its defaults, its closure values, and the types
  named in its annotations;
- transitively, the functions, classes (every method, the bases, class-level
  values) and module-level constants it references: by global name, through
  `module.attr` chains, and through imports, in modules of the user's project.

The standard library, installed distributions and flytelite itself are outside
the fingerprint: a reference to them enters by name only, and by distribution
version for the distributions named in `Cache(dependencies=...)`.

A fingerprint is a set of named parts (`"helper pkg.util.bump"` → digest). Each
part covers one object's own code and the *names* of what it references; what it
references has parts of its own. So a change shows as the one part that changed,
and a miss can say `helper 'pkg.util.bump' changed`. The version is the digest of
all the parts.

Comments, docstrings, formatting and line numbers are not in the bytecode and
do not count, nor do definitions the task does not reach. A fingerprint is
computed once per task and process, then revalidated at the start of each run by
identity checks of the globals it read, so that a notebook cell re-run to rebind a
helper or a constant is seen.

Which code is the user's is `_project`; reading code objects is `_bytecode`.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._bytecode import MISSING, chains, code_digest, digest
from ._errors import FingerprintWarning
from ._hashing import hash_value
from ._project import (
    canonical_module,
    identity,
    is_project_class,
    is_project_function,
    is_project_module,
    qualname,
)

__all__ = [
    "Fingerprint",
    "dependencies_only",
    "fingerprint",
]

_DOMAIN = b"flytelite-fingerprint-2"
LIMIT = 20_000
"""Functions and classes followed per task; past it, the rest enter by name (with a warning)."""

# Entries of a class's namespace that are not behaviour, or that Python and libraries
# fill in lazily (so that they would differ with the moment the fingerprint is taken).
_CLASS_SKIP = frozenset(
    {
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__firstlineno__",
        "__static_attributes__",
        "__slotnames__",
        "__abstractmethods__",
        "_abc_impl",
        "__orig_bases__",
        "__parameters__",
        "__annotate_func__",
        "__annotations_cache__",
    }
)


@dataclass(frozen=True)
class Fingerprint:
    """A task's auto version and the parts it is made of.

    Attributes:
        version: 16 hex characters, the digest of all parts.
        parts: Part name (`"code"`, `"helper pkg.util.bump"`, `"constant FACTOR"`,
            `"closure k"`, `"method Shape.area"`, `"class Shape"`, `"task env.child"`,
            `"dependency pandas"`) → a short digest (a version, for dependencies).
    """

    version: str
    parts: Mapping[str, str]
    reads: tuple[tuple[Any, str, Any], ...] = ()
    """(namespace, name, object) for every global read: what revalidation checks."""

    def still_valid(self) -> bool:
        """Whether every global the fingerprint read still holds the same object."""
        for namespace, name, obj in self.reads:
            if isinstance(namespace, types.CellType):
                try:
                    current = namespace.cell_contents
                except ValueError:
                    current = MISSING
            else:
                current = namespace.get(name, MISSING)
            if current is not obj:
                return False
        return True


def fingerprint(
    func: Callable[..., Any],
    *,
    dependencies: Iterable[str] = (),
    hash_methods: Mapping[str, Any] | None = None,
    name: str = "",
) -> Fingerprint:
    """The fingerprint of `func` and everything of the user's project it reaches.

    Args:
        func: The task's function.
        dependencies: Installed distributions whose versions are parts.
        hash_methods: `HashMethod`s of the task's parameters (their functions are parts).
        name: The task's identity, for warnings.
    """
    walk = _Walk(getattr(func, "__module__", None) or "", name or qualname(func))
    walk.root(func, hash_methods or {})
    for dist in sorted(set(dependencies)):
        walk.parts[f"dependency {dist}"] = _distribution_version(dist)
    return walk.result()


def dependencies_only(dependencies: Iterable[str]) -> Fingerprint:
    """The parts of a task with an explicit version: the versions of its dependencies."""
    parts = {f"dependency {d}": _distribution_version(d) for d in sorted(set(dependencies))}
    return Fingerprint(digest(_DOMAIN, *(f"{k}={v}" for k, v in parts.items())), parts)


def _distribution_version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- the walk ---------------------------------------------------------------------------------


class _Walk:
    """One fingerprint: parts, the queue of objects still to visit, what was read."""

    def __init__(self, root_module: str, task: str) -> None:
        self.root_module = canonical_module(root_module)
        self.task = task
        self.parts: dict[str, str] = {}
        self.tokens: dict[int, str] = {}
        self.alive: list[Any] = []  # keeps ids unique while walking
        self.reads: list[tuple[Any, str, Any]] = []
        self.queue: deque[tuple[str, Any, str]] = deque()
        self.followed = 0
        self.truncated: list[str] = []
        self.opaque: list[tuple[str, Any]] = []  # closure values that enter by type only

    def result(self) -> Fingerprint:
        while self.queue:
            part, obj, kind = self.queue.popleft()
            if kind == "class":
                self.parts[part] = self._class_digest(obj)
            else:
                self.parts[part] = self._function_digest(obj, closures=True)
        if self.truncated:
            warnings.warn(
                f"task {self.task!r}: its code reaches more than {LIMIT} functions and classes "
                f"of your project; the fingerprint follows the first {LIMIT} and names the "
                f"rest without their code (e.g. {self.truncated[0]!r}). Give the task an "
                f"explicit cache_version.",
                FingerprintWarning,
                stacklevel=4,
            )
        for name, value in self.opaque:
            warnings.warn(
                f"task {self.task!r} uses the closure value {name!r}, a "
                f"{type(value).__qualname__}, which flytelite cannot hash: its derived "
                f"version follows the value's type, not its state. Pass it as an input "
                f"(or in ignored_inputs if it does not change results), give its class a "
                f"__flytelite_hash__ method, or give the task a cache_version.",
                FingerprintWarning,
                stacklevel=4,
            )
        ordered = dict(sorted(self.parts.items()))
        version = digest(_DOMAIN, *(f"{k}={v}" for k, v in ordered.items()))
        return Fingerprint(version, ordered, tuple(self.reads))

    # -- naming parts

    def _name(self, obj: Any) -> str:
        """A part's name for `obj`: relative to the task's module when it lives there."""
        module = canonical_module(getattr(obj, "__module__", None) or "")
        qual = qualname(obj)
        return qual if module == self.root_module else f"{module}.{qual}"

    def _schedule(self, part: str, obj: Any, kind: str) -> str:
        if part in self.parts:
            return part
        if self.followed >= LIMIT:
            self.truncated.append(part)
            return f"unfollowed {part}"
        self.followed += 1
        self.parts[part] = ""  # reserved: a cycle comes back to the name, not the walk
        self.queue.append((part, obj, kind))
        return part

    # -- the task's own function

    def root(self, func: Callable[..., Any], hash_methods: Mapping[str, Any]) -> None:
        if not isinstance(func, types.FunctionType):
            self.parts["code"] = self.token(func)
            return
        self.alive.append(func)
        self.tokens[id(func)] = "code"
        refs: list[str] = []
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                value = MISSING
            self.reads.append((cell, name, value))
            part = f"closure {name}"
            token = "unset" if value is MISSING else self.value_token(value, name)
            if token.startswith("opaque "):
                self.opaque.append((name, value))
            self.parts[part] = digest(token)
            refs.append(part)
        for param, method in sorted(hash_methods.items()):
            fn = getattr(method, "fn", method)
            part = f"hash method {param}"
            self.parts[part] = digest(self.token(fn))
            refs.append(part)
        refs.extend(self._annotation_tokens(func))
        self.parts["code"] = self._function_digest(func, closures=False, extra=refs)

    def _annotation_tokens(self, func: types.FunctionType) -> list[str]:
        """The project classes named in the task's annotations (so their methods count)."""
        annotations = getattr(func, "__annotations__", None) or {}
        found: list[str] = []
        for value in annotations.values():
            if isinstance(value, str):
                value = _lenient_eval(value, func.__globals__)
            for cls in _classes_in(value):
                if is_project_class(cls):
                    found.append(self.token(cls))
        return sorted(set(found))

    # -- tokens: how a reference is written in the part that makes it

    def token(self, obj: Any) -> str:
        """The token of a referenced object; functions and classes of the project are
        scheduled as parts of their own."""
        key = id(obj)
        known = self.tokens.get(key)
        if known is not None:
            return known
        self.alive.append(obj)
        token = self._classify(obj)
        self.tokens[key] = token
        return token

    def _classify(self, obj: Any) -> str:
        code_of = getattr(type(obj), "__flytelite_code__", None)
        if code_of is not None and not isinstance(obj, type):
            name, explicit, func = code_of(obj)
            part = f"task {name}"
            if explicit is not None:
                self.parts.setdefault(part, digest("explicit", explicit))
                return part
            return self._schedule(part, func, "function")
        if isinstance(obj, types.FunctionType):
            if is_project_function(obj):
                return self._schedule(f"helper {self._name(obj)}", obj, "function")
            return f"ext {identity(obj)}"
        if isinstance(obj, type):
            if is_project_class(obj):
                return self._schedule(f"class {self._name(obj)}", obj, "class")
            return f"ext {identity(obj)}"
        if isinstance(obj, types.ModuleType):
            return f"module {canonical_module(obj.__name__)}"
        if isinstance(obj, types.MethodType):
            return f"bound {self.token(obj.__func__)} of {self.value_token(obj.__self__, '')}"
        if isinstance(obj, (staticmethod, classmethod)):
            return f"{type(obj).__name__} {self.token(obj.__func__)}"
        if isinstance(obj, property):
            return "property " + ",".join(self.token(f) for f in (obj.fget, obj.fset, obj.fdel))
        if isinstance(obj, functools.partial):
            args = ",".join(self.value_token(a, "") for a in obj.args)
            kwargs = ",".join(f"{k}={self.value_token(v, '')}" for k, v in obj.keywords.items())
            return f"partial {self.token(obj.func)}({args};{kwargs})"
        wrapped = getattr(obj, "__wrapped__", None) if callable(obj) else None
        if wrapped is not None and wrapped is not obj:
            return f"wrapped {identity(type(obj))} {self.token(wrapped)}"
        if isinstance(
            obj,
            (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType),
        ):
            return f"ext {identity(obj)}"
        return self.value_token(obj, "")

    def value_token(self, value: Any, where: str) -> str:
        """A value's token: its digest when it can be hashed, its structure when it holds
        code (a dispatch table of functions), else its type only."""
        if isinstance(
            value,
            (types.FunctionType, type, types.ModuleType, types.MethodType, functools.partial),
        ) or hasattr(type(value), "__flytelite_code__"):
            return self.token(value)
        try:
            return "= " + hash_value(value).hex()[:32]
        except (TypeError, RecursionError):
            pass
        except Exception:  # a value whose own hashing hook fails: it enters by type
            return f"opaque {identity(type(value))}"
        if isinstance(value, (list, tuple, set, frozenset)) and len(value) <= 10_000:
            items = [self.value_token(v, where) for v in value]
            if isinstance(value, (set, frozenset)):
                items.sort()
            return f"{type(value).__name__}[{digest(*items)}]"
        if isinstance(value, dict) and len(value) <= 10_000:
            pairs = [
                f"{self.value_token(k, where)}:{self.value_token(v, where)}"
                for k, v in value.items()
            ]
            return f"dict[{digest(*pairs)}]"
        if callable(value) and (
            inspect.isbuiltin(value) or isinstance(getattr(value, "__self__", None), type)
        ):
            return f"ext {identity(value)}"
        return f"opaque {identity(type(value))}"

    # -- parts of functions and classes

    def _function_digest(
        self, func: types.FunctionType, *, closures: bool, extra: Iterable[str] = ()
    ) -> str:
        chunks: list[Any] = ["function"]
        code = func.__code__
        chunks.append(code_digest(code))
        chunks.append(
            "defaults " + ",".join(self.value_token(v, "") for v in func.__defaults__ or ())
        )
        kwdefaults = func.__kwdefaults__ or {}
        chunks.append(
            "kwdefaults "
            + ",".join(f"{k}={self.value_token(v, '')}" for k, v in sorted(kwdefaults.items()))
        )
        if closures:
            for name, cell in zip(code.co_freevars, func.__closure__ or ()):
                try:
                    value = cell.cell_contents
                except ValueError:
                    chunks.append(f"closure {name} unset")
                    continue
                self.reads.append((cell, name, value))
                chunks.append(f"closure {name} {self.value_token(value, name)}")
        chunks.extend(sorted(self._references(code, func.__globals__)))
        chunks.extend(extra)
        return digest(*chunks)

    def _class_digest(self, cls: type) -> str:
        chunks: list[Any] = ["class", identity(cls)]
        chunks.append("bases " + ",".join(self.token(b) for b in cls.__bases__))
        if type(cls) is not type:
            chunks.append(f"metaclass {self.token(type(cls))}")
        for name, member in sorted(vars(cls).items()):
            if name in _CLASS_SKIP or name.startswith("__pydantic"):
                continue
            if name == "__annotations__" and isinstance(member, dict):
                chunks.append(
                    "annotations "
                    + ",".join(f"{k}:{_annotation_text(v)}" for k, v in member.items())
                )
                continue
            if name == "__dataclass_fields__" and isinstance(member, dict):
                chunks.append(f"fields {self._fields_token(member)}")
                continue
            chunks.append(f"{name} {self._member_token(cls, name, member)}")
        return digest(*chunks)

    def _member_token(self, cls: type, name: str, member: Any) -> str:
        if isinstance(member, types.FunctionType):
            if is_project_function(member):
                return self._schedule(f"method {self._name(member)}", member, "function")
            return f"ext {identity(member)}"
        if isinstance(member, (staticmethod, classmethod)):
            return f"{type(member).__name__} {self._member_token(cls, name, member.__func__)}"
        if isinstance(member, property):
            return "property " + ",".join(
                self._member_token(cls, name, f) for f in (member.fget, member.fset, member.fdel)
            )
        if isinstance(member, functools.cached_property):
            return f"cached_property {self._member_token(cls, name, member.func)}"
        return self.value_token(member, name)

    def _fields_token(self, fields: dict[str, Any]) -> str:
        rows = []
        for name, field in fields.items():
            default = getattr(field, "default", MISSING)
            factory = getattr(field, "default_factory", MISSING)
            flags = tuple(
                getattr(field, flag, None)
                for flag in ("init", "repr", "hash", "compare", "kw_only")
            )
            rows.append(
                f"{name}:{_field_value(self, default)}:{_field_value(self, factory)}:{flags}"
            )
        return digest(*rows)

    # -- references read from bytecode

    def _references(self, code: types.CodeType, namespace: dict[str, Any]) -> set[str]:
        """`name → token` for every global, `module.attr` chain and import in `code` and the
        code nested in it (inner functions, lambdas, comprehensions)."""
        found: set[str] = set()
        stack = [code]
        while stack:
            current = stack.pop()
            stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
            for chain, start in chains(current, namespace):
                found.add(f"ref {'.'.join(chain)} -> {self._resolve(chain, start, namespace)}")
        return found

    def _resolve(self, chain: list[str], start: Any, namespace: dict[str, Any]) -> str:
        """The token of what `chain` names; a project module's constant becomes a part."""
        if start is MISSING:
            obj = namespace.get(chain[0], MISSING)
            self.reads.append((namespace, chain[0], obj))
            if obj is MISSING:
                builtins = namespace.get("__builtins__", {})
                if isinstance(builtins, types.ModuleType):
                    builtins = vars(builtins)
                return f"ext builtins:{chain[0]}" if chain[0] in builtins else "missing"
            owner: str | None = str(namespace.get("__name__", ""))
        else:
            obj, owner = start, None
        name = chain[0]
        for attr in chain[1:]:
            if not isinstance(obj, types.ModuleType):
                break
            members = vars(obj)
            nxt = members.get(attr, MISSING)
            if nxt is MISSING:
                nxt = getattr(obj, attr, MISSING)  # a module-level __getattr__
                if nxt is MISSING:
                    return f"missing {canonical_module(obj.__name__)}.{attr}"
            else:
                self.reads.append((members, attr, nxt))
            owner, name, obj = obj.__name__, attr, nxt
        if owner is not None and _is_constant(obj):
            return self._constant(owner, name, obj)
        return self.token(obj)

    def _constant(self, owner: str, name: str, value: Any) -> str:
        module = sys.modules.get(owner)
        canonical = canonical_module(owner)
        if module is not None and not is_project_module(module):
            return f"ext value {canonical}.{name}"
        qual = name if canonical == self.root_module else f"{canonical}.{name}"
        part = f"constant {qual}"
        if part not in self.parts:
            self.parts[part] = digest(self.value_token(value, qual))
        return part


def _is_constant(obj: Any) -> bool:
    """A value rather than code: what a module-level name that is not a function, class,
    module or task holds."""
    if isinstance(
        obj,
        (
            types.FunctionType,
            type,
            types.ModuleType,
            types.MethodType,
            types.BuiltinFunctionType,
            functools.partial,
            staticmethod,
            classmethod,
            property,
        ),
    ):
        return False
    if hasattr(type(obj), "__flytelite_code__"):
        return False
    return not (callable(obj) and getattr(obj, "__wrapped__", None) is not None)


def _field_value(walk: _Walk, value: Any) -> str:
    if value is MISSING or type(value).__name__ == "MISSING_TYPE":
        return "-"
    return walk.value_token(value, "")


def _annotation_text(value: Any) -> str:
    if isinstance(value, type):
        return identity(value)
    text = value if isinstance(value, str) else repr(value)
    return text if " at 0x" not in text else identity(type(value))


def _lenient_eval(text: str, namespace: dict[str, Any]) -> Any:
    try:
        return eval(text, dict(namespace))  # noqa: S307 (an annotation of the user's own code)
    except Exception:
        return None


def _classes_in(annotation: Any, depth: int = 0) -> list[type]:
    """Classes an annotation names: `Shape`, `list[Shape]`, `Annotated[Shape, ...]`."""
    if depth > 20 or annotation is None:
        return []
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return [annotation]
    found: list[type] = []
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        found.append(origin)
    for arg in typing.get_args(annotation):
        found.extend(_classes_in(arg, depth + 1))
    return found
