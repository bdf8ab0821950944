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

This module imports nothing of flytelite but hashing and errors.
"""

from __future__ import annotations

import dis
import functools
import importlib.util
import inspect
import os
import sys
import sysconfig
import types
import typing
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import blake3

from ._errors import FingerprintWarning
from ._hashing import hash_value

__all__ = [
    "Fingerprint",
    "dependencies_only",
    "fingerprint",
    "is_project_module",
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
_MISSING = object()
_LOAD_GLOBAL = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_LOAD_ATTR = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_STORE_LOCAL = frozenset({"STORE_FAST", "STORE_NAME", "STORE_DEREF"})
_LOAD_LOCAL = frozenset({"LOAD_FAST", "LOAD_NAME", "LOAD_DEREF", "LOAD_FAST_CHECK"})


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
                    current = _MISSING
            else:
                current = namespace.get(name, _MISSING)
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
    walk = _Walk(getattr(func, "__module__", None) or "", name or _qualname(func))
    walk.root(func, hash_methods or {})
    for dist in sorted(set(dependencies)):
        walk.parts[f"dependency {dist}"] = _distribution_version(dist)
    return walk.result()


def dependencies_only(dependencies: Iterable[str]) -> Fingerprint:
    """The parts of a task with an explicit version: the versions of its dependencies."""
    parts = {f"dependency {d}": _distribution_version(d) for d in sorted(set(dependencies))}
    return Fingerprint(_digest(_DOMAIN, *(f"{k}={v}" for k, v in parts.items())), parts)


def _distribution_version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- which code is the user's ----------------------------------------------------------------


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


def _project_function(func: types.FunctionType) -> bool:
    return _project_file(func.__code__.co_filename) and not _is_flytelite(func.__module__)


def _project_class(cls: type) -> bool:
    module = sys.modules.get(cls.__module__)
    if module is not None:
        return is_project_module(module)
    if cls.__module__ in ("builtins", None) or _is_flytelite(cls.__module__):
        return False
    for member in vars(cls).values():
        if isinstance(member, types.FunctionType):
            return _project_function(member)
    return True


def _is_flytelite(module: str | None) -> bool:
    return bool(module) and (module == "flytelite" or module.startswith("flytelite."))  # type: ignore[union-attr]


def _canonical_module(name: str) -> str:
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


def _qualname(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", type(obj).__name__))


def _identity(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    return f"{_canonical_module(module)}:{_qualname(obj)}"


# -- the walk ---------------------------------------------------------------------------------


def _digest(*chunks: Any) -> str:
    h = blake3.blake3()
    for chunk in chunks:
        data = chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:16]


class _Walk:
    """One fingerprint: parts, the queue of objects still to visit, what was read."""

    def __init__(self, root_module: str, task: str) -> None:
        self.root_module = _canonical_module(root_module)
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
        version = _digest(_DOMAIN, *(f"{k}={v}" for k, v in ordered.items()))
        return Fingerprint(version, ordered, tuple(self.reads))

    # -- naming parts

    def _name(self, obj: Any) -> str:
        """A part's name for `obj`: relative to the task's module when it lives there."""
        module = _canonical_module(getattr(obj, "__module__", None) or "")
        qual = _qualname(obj)
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
                value = _MISSING
            self.reads.append((cell, name, value))
            part = f"closure {name}"
            token = "unset" if value is _MISSING else self.value_token(value, name)
            if token.startswith("opaque "):
                self.opaque.append((name, value))
            self.parts[part] = _digest(token)
            refs.append(part)
        for param, method in sorted(hash_methods.items()):
            fn = getattr(method, "fn", method)
            part = f"hash method {param}"
            self.parts[part] = _digest(self.token(fn))
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
                if _project_class(cls):
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
                self.parts.setdefault(part, _digest("explicit", explicit))
                return part
            return self._schedule(part, func, "function")
        if isinstance(obj, types.FunctionType):
            if _project_function(obj):
                return self._schedule(f"helper {self._name(obj)}", obj, "function")
            return f"ext {_identity(obj)}"
        if isinstance(obj, type):
            if _project_class(obj):
                return self._schedule(f"class {self._name(obj)}", obj, "class")
            return f"ext {_identity(obj)}"
        if isinstance(obj, types.ModuleType):
            return f"module {_canonical_module(obj.__name__)}"
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
            return f"wrapped {_identity(type(obj))} {self.token(wrapped)}"
        if isinstance(
            obj,
            (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType),
        ):
            return f"ext {_identity(obj)}"
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
            return f"opaque {_identity(type(value))}"
        if isinstance(value, (list, tuple, set, frozenset)) and len(value) <= 10_000:
            items = [self.value_token(v, where) for v in value]
            if isinstance(value, (set, frozenset)):
                items.sort()
            return f"{type(value).__name__}[{_digest(*items)}]"
        if isinstance(value, dict) and len(value) <= 10_000:
            pairs = [
                f"{self.value_token(k, where)}:{self.value_token(v, where)}"
                for k, v in value.items()
            ]
            return f"dict[{_digest(*pairs)}]"
        if callable(value) and (
            inspect.isbuiltin(value) or isinstance(getattr(value, "__self__", None), type)
        ):
            return f"ext {_identity(value)}"
        return f"opaque {_identity(type(value))}"

    # -- parts of functions and classes

    def _function_digest(
        self, func: types.FunctionType, *, closures: bool, extra: Iterable[str] = ()
    ) -> str:
        chunks: list[Any] = ["function"]
        code = func.__code__
        chunks.append(_code_digest(code))
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
        return _digest(*chunks)

    def _class_digest(self, cls: type) -> str:
        chunks: list[Any] = ["class", _identity(cls)]
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
        return _digest(*chunks)

    def _member_token(self, cls: type, name: str, member: Any) -> str:
        if isinstance(member, types.FunctionType):
            if _project_function(member):
                return self._schedule(f"method {self._name(member)}", member, "function")
            return f"ext {_identity(member)}"
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
            default = getattr(field, "default", _MISSING)
            factory = getattr(field, "default_factory", _MISSING)
            flags = tuple(
                getattr(field, flag, None)
                for flag in ("init", "repr", "hash", "compare", "kw_only")
            )
            rows.append(
                f"{name}:{_field_value(self, default)}:{_field_value(self, factory)}:{flags}"
            )
        return _digest(*rows)

    # -- references read from bytecode

    def _references(self, code: types.CodeType, namespace: dict[str, Any]) -> set[str]:
        """`name → token` for every global, `module.attr` chain and import in `code` and the
        code nested in it (inner functions, lambdas, comprehensions)."""
        found: set[str] = set()
        stack = [code]
        while stack:
            current = stack.pop()
            stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
            for chain, start in _chains(current, namespace):
                found.add(f"ref {'.'.join(chain)} -> {self._resolve(chain, start, namespace)}")
        return found

    def _resolve(self, chain: list[str], start: Any, namespace: dict[str, Any]) -> str:
        """The token of what `chain` names; a project module's constant becomes a part."""
        if start is _MISSING:
            obj = namespace.get(chain[0], _MISSING)
            self.reads.append((namespace, chain[0], obj))
            if obj is _MISSING:
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
            nxt = members.get(attr, _MISSING)
            if nxt is _MISSING:
                nxt = getattr(obj, attr, _MISSING)  # a module-level __getattr__
                if nxt is _MISSING:
                    return f"missing {_canonical_module(obj.__name__)}.{attr}"
            else:
                self.reads.append((members, attr, nxt))
            owner, name, obj = obj.__name__, attr, nxt
        if owner is not None and _is_constant(obj):
            return self._constant(owner, name, obj)
        return self.token(obj)

    def _constant(self, owner: str, name: str, value: Any) -> str:
        module = sys.modules.get(owner)
        canonical = _canonical_module(owner)
        if module is not None and not is_project_module(module):
            return f"ext value {canonical}.{name}"
        qual = name if canonical == self.root_module else f"{canonical}.{name}"
        part = f"constant {qual}"
        if part not in self.parts:
            self.parts[part] = _digest(self.value_token(value, qual))
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
    if value is _MISSING or type(value).__name__ == "_MISSING_TYPE":
        return "-"
    return walk.value_token(value, "")


def _chains(code: types.CodeType, namespace: dict[str, Any]) -> Iterable[tuple[list[str], Any]]:
    """Name chains the bytecode loads: `util.bump` from `LOAD_GLOBAL util; LOAD_ATTR bump`,
    modules and names imported in the body, and attribute chains on the locals those
    imports bind.

    Yields (chain, start): `start` is `_MISSING` for a global name, else the object the
    chain starts from (what an import gave)."""
    instructions = list(dis.get_instructions(code))
    bound: dict[str, Any] = {}  # locals bound by imports in the body
    i, n = 0, len(instructions)
    while i < n:
        ins = instructions[i]
        op, arg = ins.opname, str(ins.argval)
        i += 1
        if op == "IMPORT_NAME":
            i = yield from _import(instructions, i, namespace, bound)
            continue
        if op == "LOAD_GLOBAL" or (op == "LOAD_NAME" and arg not in bound):
            start: Any = _MISSING
        elif op in _LOAD_LOCAL and arg in bound:
            start = bound[arg]
        else:
            continue
        chain = [arg]
        while i < n and instructions[i].opname in _LOAD_ATTR:
            chain.append(str(instructions[i].argval))
            i += 1
        yield chain, start


def _import(
    instructions: list[dis.Instruction], i: int, namespace: dict[str, Any], bound: dict[str, Any]
) -> typing.Generator[tuple[list[str], Any], None, int]:
    """An `IMPORT_NAME` at `i - 1`: yield what it imports, record the locals it binds,
    and return the index of the next instruction to read."""
    ins = instructions[i - 1]
    name = str(ins.argval)
    level, fromlist = 0, None
    if i >= 3 and instructions[i - 3].opname == "LOAD_CONST":
        level = instructions[i - 3].argval if isinstance(instructions[i - 3].argval, int) else 0
        fromlist = instructions[i - 2].argval
    module = _imported(name, level, namespace)
    if module is None:
        return i
    yield [f"import {name or '.'}"], module
    n = len(instructions)
    if fromlist:  # from m import a, b: IMPORT_FROM a; STORE a; IMPORT_FROM b; STORE b
        while i < n and instructions[i].opname == "IMPORT_FROM":
            attr = str(instructions[i].argval)
            target = getattr(module, attr, _MISSING)
            if target is _MISSING:
                target = sys.modules.get(f"{module.__name__}.{attr}", _MISSING)
            if target is not _MISSING:
                yield [f"from {module.__name__} import {attr}"], target
            i += 1
            if i < n and instructions[i].opname in _STORE_LOCAL:
                if isinstance(target, types.ModuleType):
                    bound[str(instructions[i].argval)] = target
                i += 1
        return i
    # `import a.b` binds `a`; `import a.b as c` walks IMPORT_FROM to `a.b` and binds `c` to it
    walked = False
    while i < n and instructions[i].opname in ("IMPORT_FROM", "SWAP", "POP_TOP", "ROT_TWO"):
        walked = walked or instructions[i].opname == "IMPORT_FROM"
        i += 1
    if i < n and instructions[i].opname in _STORE_LOCAL:
        top = sys.modules.get(name.partition(".")[0], module) if level == 0 else module
        bound[str(instructions[i].argval)] = module if walked else top
        i += 1
    return i


def _imported(name: str, level: int, namespace: dict[str, Any]) -> Any:
    if level:
        package = namespace.get("__package__") or namespace.get("__name__", "")
        try:
            name = importlib.util.resolve_name("." * level + name, package)
        except (ImportError, ValueError):
            return None
    return sys.modules.get(name)


def _code_digest(code: types.CodeType) -> str:
    """A code object's behaviour: bytecode, names, constants (nested code recursively),
    without line numbers, file name or docstring."""
    chunks: list[Any] = [
        code.co_name,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
        code.co_code,
        "|".join(code.co_names),
        "|".join(code.co_varnames),
        "|".join(code.co_freevars),
        "|".join(code.co_cellvars),
        getattr(code, "co_exceptiontable", b""),
    ]
    consts = list(code.co_consts)
    if consts and isinstance(consts[0], str) and 0 not in _loaded_consts(code):
        consts[0] = None  # the docstring: never loaded by the code itself
    for const in consts:
        if isinstance(const, types.CodeType):
            chunks.append("code " + _code_digest(const))
        else:
            chunks.append(_const_text(const))
    return _digest(*chunks)


def _loaded_consts(code: types.CodeType) -> set[int]:
    has_const = set(dis.hasconst)
    return {
        ins.arg
        for ins in dis.get_instructions(code)
        if ins.opcode in has_const and ins.arg is not None
    }


def _const_text(const: Any) -> str:
    if const is Ellipsis:
        return "..."
    try:
        return hash_value(const).hex()
    except TypeError:  # pragma: no cover (compilers make constants of simple types only)
        return f"{type(const).__qualname__}:{const!r}"


def _annotation_text(value: Any) -> str:
    if isinstance(value, type):
        return _identity(value)
    text = value if isinstance(value, str) else repr(value)
    return text if " at 0x" not in text else _identity(type(value))


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
