"""flytelite's Flyte 2 surface: what `import flyte` gives after `flytelite.compat.install()`.

Layers, each importing only those above it:

    errors, _notice, _options   Flyte's errors; say-once notices; recorded deployment options
    _cache, _state, _report     cache requests; runs, actions, groups, `ctx()`; HTML reports
    _task                       `TaskEnvironment`, surface tasks on flytelite's task model
    _trace, _map, _run          `@trace`, `map`, `run` / `with_runcontext` / `init`
    durable, report, io, git,   the public submodules
    storage, types

Tasks defined here are ordinary flytelite tasks: `flytelite.run` runs and
caches them. Names of Flyte 2 that need a cluster (`deploy`, `serve`,
`build`, ...) exist and raise `UnsupportedFeatureError` when used.
"""

from __future__ import annotations

from typing import Any

from . import durable as durable
from . import errors as errors
from . import git as git
from . import io as io
from . import report as report
from . import storage as storage
from . import types as types
from ._cache import Cache as Cache
from ._cache import CachePolicy as CachePolicy
from ._cache import CacheRequest as CacheRequest
from ._checkpoint import BaseCheckpoint as BaseCheckpoint
from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import latest_checkpoint as latest_checkpoint
from ._logging import logger as logger
from ._logging import system_logger as system_logger
from ._map import map as map
from ._notice import UnsupportedFeatureError
from ._options import AMD_GPU as AMD_GPU
from ._options import APPLE_SILICON as APPLE_SILICON
from ._options import GPU as GPU
from ._options import HABANA_GAUDI as HABANA_GAUDI
from ._options import TPU as TPU
from ._options import Backoff as Backoff
from ._options import Cron as Cron
from ._options import Device as Device
from ._options import Documentation as Documentation
from ._options import FixedRate as FixedRate
from ._options import Image as Image
from ._options import Link as Link
from ._options import Neuron as Neuron
from ._options import PodTemplate as PodTemplate
from ._options import Resources as Resources
from ._options import RetryStrategy as RetryStrategy
from ._options import ReusePolicy as ReusePolicy
from ._options import Secret as Secret
from ._options import Timeout as Timeout
from ._options import Trigger as Trigger
from ._run import current_domain as current_domain
from ._run import current_project as current_project
from ._run import init as init
from ._run import init_from_api_key as init_from_api_key
from ._run import init_from_config as init_from_config
from ._run import init_in_cluster as init_in_cluster
from ._run import init_passthrough as init_passthrough
from ._run import is_control_plane_available as is_control_plane_available
from ._run import run as run
from ._run import with_runcontext as with_runcontext
from ._state import ctx as ctx
from ._state import custom_context as custom_context
from ._state import get_custom_context as get_custom_context
from ._state import group as group
from ._task import AsyncFunctionTaskTemplate as AsyncFunctionTaskTemplate
from ._task import Environment as Environment
from ._task import SyncFunctionTaskTemplate as SyncFunctionTaskTemplate
from ._task import TaskEnvironment as TaskEnvironment
from ._task import TaskTemplate as TaskTemplate
from ._trace import trace as trace

__version__ = "2.0.0+flytelite"

SecretRequest = Any
"""A secret request: a key, a `Secret`, or a list of them."""
TimeoutType = Any
"""A timeout: seconds, a `timedelta`, or a `Timeout`."""


def version() -> str:
    """The version of this surface."""
    return __version__


# Flyte 2 names that need a cluster or a deployment: importable, and clear when used.
_NEEDS_A_CLUSTER = {
    "deploy": "deploying environments needs a Flyte cluster.",
    "build": "images are built for a Flyte cluster; tasks run in this process.",
    "build_images": "images are built for a Flyte cluster; tasks run in this process.",
    "ImageBuild": "images are built for a Flyte cluster; tasks run in this process.",
    "serve": "apps are served on a Flyte cluster.",
    "with_servecontext": "apps are served on a Flyte cluster.",
    "AppHandle": "apps are served on a Flyte cluster.",
    "rerun": "re-running a remote run needs a Flyte cluster.",
    "run_python_script": "running a script remotely needs a Flyte cluster.",
    "new_condition": "conditions (human-in-the-loop signals) are not implemented locally.",
    "ConditionWebhook": "conditions (human-in-the-loop signals) are not implemented locally.",
    "load_interactive_ctx": "interactive contexts need a Flyte cluster.",
    "load_plugin_config": "task plugins are not loaded locally.",
    "OnArtifact": "artifact triggers fire on a Flyte cluster.",
    "TriggeredArtifact": "artifact triggers fire on a Flyte cluster.",
    "TriggeredPartition": "artifact triggers fire on a Flyte cluster.",
    "TriggerTime": "triggers fire on a Flyte cluster.",
    "custom_excepthook": "flytelite leaves `sys.excepthook` alone.",
}


class _Unsupported:
    """A Flyte 2 name flytelite cannot honour: using it raises `UnsupportedFeatureError`."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedFeatureError(f"flyte.{self.name}", self.why)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise UnsupportedFeatureError(f"flyte.{self.name}.{attribute}", self.why)

    def __repr__(self) -> str:
        return f"<unsupported flyte.{self.name}>"


def __getattr__(name: str) -> Any:
    why = _NEEDS_A_CLUSTER.get(name)
    if why is not None:
        return _Unsupported(name, why)
    raise AttributeError(
        f"module 'flyte' has no attribute {name!r}: it is not part of flytelite's Flyte 2 "
        f"surface (flytelite.compat)."
    )


__all__ = [
    "AMD_GPU",
    "APPLE_SILICON",
    "GPU",
    "HABANA_GAUDI",
    "TPU",
    "AsyncFunctionTaskTemplate",
    "Backoff",
    "BaseCheckpoint",
    "Cache",
    "CachePolicy",
    "CacheRequest",
    "Checkpoint",
    "Cron",
    "Device",
    "Documentation",
    "Environment",
    "FixedRate",
    "Image",
    "Link",
    "Neuron",
    "PodTemplate",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Secret",
    "SecretRequest",
    "SyncFunctionTaskTemplate",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
    "TimeoutType",
    "Trigger",
    "__version__",
    "ctx",
    "current_domain",
    "current_project",
    "custom_context",
    "durable",
    "errors",
    "get_custom_context",
    "git",
    "group",
    "init",
    "init_from_api_key",
    "init_from_config",
    "init_in_cluster",
    "init_passthrough",
    "io",
    "is_control_plane_available",
    "latest_checkpoint",
    "logger",
    "map",
    "report",
    "run",
    "storage",
    "system_logger",
    "trace",
    "types",
    "version",
    "with_runcontext",
]
