"""Dynamic workflows: a body compiled into a DAG of task calls, the DAG cached as an artifact.

The body of `@env.dynamic` runs in compile mode: every task call records a node
and returns a `Promise` of its output, which later calls can take as inputs.
The result is a `WorkflowSpec`, cached under its own key and run as a DAG.

Modules, each importing only those above it:

    _spec       `WorkflowSpec`, its nodes and bindings, the compact stored form
    _promise    `Promise` and its usage errors
    _compiler   `Compiler`: the runner while a body compiles
    _task       `DynamicTask` and the DAG runner
"""

from ._compiler import Compiler as Compiler
from ._promise import Promise as Promise
from ._spec import Binding as Binding
from ._spec import Constant as Constant
from ._spec import Many as Many
from ._spec import MappingOf as MappingOf
from ._spec import Node as Node
from ._spec import Ref as Ref
from ._spec import WorkflowSpec as WorkflowSpec
from ._task import DynamicTask as DynamicTask
from ._task import WorkflowWarning as WorkflowWarning
from ._task import make_dynamic as make_dynamic

__all__ = [
    "Binding",
    "Compiler",
    "Constant",
    "DynamicTask",
    "Many",
    "MappingOf",
    "Node",
    "Promise",
    "Ref",
    "WorkflowSpec",
    "WorkflowWarning",
    "make_dynamic",
]
