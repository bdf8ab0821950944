"""Reading code objects: what a function's behaviour is, and what names it reaches.

`code_digest` hashes a code object without what does not change its behaviour
(line numbers, file name, the docstring); `chains` lists the global names,
`module.attr` chains and imports its bytecode loads. Both read the loaded code,
never a file on disk. Used by code fingerprints (`_fingerprint`).
"""

from __future__ import annotations

import dis
import importlib.util
import sys
import types
import typing
import weakref
from collections.abc import Iterable
from typing import Any

import blake3

from ._hashing import hash_value

__all__ = ["MISSING", "chains", "code_digest", "digest"]

MISSING: Any = object()
"""A name that is not bound (a global not defined, a cell not yet filled)."""

_LOAD_ATTR = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_STORE_LOCAL = frozenset({"STORE_FAST", "STORE_NAME", "STORE_DEREF"})
_LOAD_LOCAL = frozenset({"LOAD_FAST", "LOAD_NAME", "LOAD_DEREF", "LOAD_FAST_CHECK"})


def digest(*chunks: Any) -> str:
    """16 hex characters of blake3 over the chunks, each length-prefixed."""
    h = blake3.blake3()
    for chunk in chunks:
        data = chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:16]


def chains(code: types.CodeType, namespace: dict[str, Any]) -> Iterable[tuple[list[str], Any]]:
    """Name chains the bytecode loads: `util.bump` from `LOAD_GLOBAL util; LOAD_ATTR bump`,
    modules and names imported in the body, and attribute chains on the locals those
    imports bind.

    Yields (chain, start): `start` is `MISSING` for a global name, else the object the
    chain starts from (what an import gave)."""
    instructions = _decoded(code)[0]
    bound: dict[str, Any] = {}  # locals bound by imports in the body
    i, n = 0, len(instructions)
    while i < n:
        op, value = instructions[i]
        arg = str(value)
        i += 1
        if op == "IMPORT_NAME":
            i = yield from _import(instructions, i, namespace, bound)
            continue
        if op == "LOAD_GLOBAL" or (op == "LOAD_NAME" and arg not in bound):
            start: Any = MISSING
        elif op in _LOAD_LOCAL and arg in bound:
            start = bound[arg]
        else:
            continue
        chain = [arg]
        while i < n and instructions[i][0] in _LOAD_ATTR:
            chain.append(str(instructions[i][1]))
            i += 1
        yield chain, start


Op = tuple[str, Any]  # (opname, argval)
_DECODED: weakref.WeakKeyDictionary[types.CodeType, tuple[tuple[Op, ...], frozenset[int]]] = (
    weakref.WeakKeyDictionary()
)
_DIGESTS: weakref.WeakKeyDictionary[types.CodeType, str] = weakref.WeakKeyDictionary()
_HAS_CONST = frozenset(dis.hasconst)


def _decoded(code: types.CodeType) -> tuple[tuple[Op, ...], frozenset[int]]:
    """The instructions as (opname, argval), and the indices of the constants loaded;
    decoded once per code object (decoding is the costly part of a fingerprint)."""
    found = _DECODED.get(code)
    if found is None:
        ops, consts = [], set()
        for ins in dis.get_instructions(code):
            ops.append((ins.opname, ins.argval))
            if ins.opcode in _HAS_CONST and ins.arg is not None:
                consts.add(ins.arg)
        found = _DECODED[code] = (tuple(ops), frozenset(consts))
    return found


def _import(
    instructions: tuple[Op, ...], i: int, namespace: dict[str, Any], bound: dict[str, Any]
) -> typing.Generator[tuple[list[str], Any], None, int]:
    """An `IMPORT_NAME` at `i - 1`: yield what it imports, record the locals it binds,
    and return the index of the next instruction to read."""
    name = str(instructions[i - 1][1])
    level, fromlist = 0, None
    if i >= 3 and instructions[i - 3][0] == "LOAD_CONST":
        level = instructions[i - 3][1] if isinstance(instructions[i - 3][1], int) else 0
        fromlist = instructions[i - 2][1]
    module = _imported(name, level, namespace)
    if module is None:
        return i
    yield [f"import {name or '.'}"], module
    n = len(instructions)
    if fromlist:  # from m import a, b: IMPORT_FROM a; STORE a; IMPORT_FROM b; STORE b
        while i < n and instructions[i][0] == "IMPORT_FROM":
            attr = str(instructions[i][1])
            target = getattr(module, attr, MISSING)
            if target is MISSING:
                target = sys.modules.get(f"{module.__name__}.{attr}", MISSING)
            if target is not MISSING:
                yield [f"from {module.__name__} import {attr}"], target
            i += 1
            if i < n and instructions[i][0] in _STORE_LOCAL:
                if isinstance(target, types.ModuleType):
                    bound[str(instructions[i][1])] = target
                i += 1
        return i
    # `import a.b` binds `a`; `import a.b as c` walks IMPORT_FROM to `a.b` and binds `c` to it
    walked = False
    while i < n and instructions[i][0] in ("IMPORT_FROM", "SWAP", "POP_TOP", "ROT_TWO"):
        walked = walked or instructions[i][0] == "IMPORT_FROM"
        i += 1
    if i < n and instructions[i][0] in _STORE_LOCAL:
        top = sys.modules.get(name.partition(".")[0], module) if level == 0 else module
        bound[str(instructions[i][1])] = module if walked else top
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


def code_digest(code: types.CodeType) -> str:
    """A code object's behaviour: bytecode, names, constants (nested code recursively),
    without line numbers, file name or docstring."""
    found = _DIGESTS.get(code)
    if found is None:
        found = _DIGESTS[code] = _code_digest(code)
    return found


def _code_digest(code: types.CodeType) -> str:
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
    if consts and isinstance(consts[0], str) and 0 not in _decoded(code)[1]:
        consts[0] = None  # the docstring: never loaded by the code itself
    for const in consts:
        if isinstance(const, types.CodeType):
            chunks.append("code " + code_digest(const))
        else:
            chunks.append(_const_text(const))
    return digest(*chunks)


def _const_text(const: Any) -> str:
    if const is Ellipsis:
        return "..."
    try:
        return hash_value(const).hex()
    except TypeError:  # pragma: no cover (compilers make constants of simple types only)
        return f"{type(const).__qualname__}:{const!r}"
