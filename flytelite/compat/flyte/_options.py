"""Flyte 2's deployment options (images, resources, reuse, secrets): recorded, no local effect.

Their constructors accept what Flyte 2's accept and keep the values, so a
program can build and inspect them; tasks carry them along. None of them
changes how a task runs on this machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Device:
    """An accelerator request (`GPU("A100", 2)`, `TPU("V5P")`, ...)."""

    quantity: int = 1
    device_class: str = "GPU"
    device: str | None = None
    partition: str | None = None


def GPU(device: str, quantity: int = 1, partition: str | None = None) -> Device:
    """A GPU request, e.g. `GPU("A100", 2)`."""
    return Device(quantity, "GPU", device, partition)


def TPU(device: str, partition: str | None = None) -> Device:
    """A TPU request."""
    return Device(1, "TPU", device, partition)


def Neuron(device: str) -> Device:
    """An AWS Neuron accelerator request."""
    return Device(1, "NEURON", device)


def AMD_GPU(device: str) -> Device:
    """An AMD GPU request."""
    return Device(1, "AMD_GPU", device)


def HABANA_GAUDI(device: str) -> Device:
    """A Habana Gaudi request."""
    return Device(1, "HABANA_GAUDI", device)


def APPLE_SILICON() -> Device:
    """The Metal GPU of an Apple Silicon Mac."""
    return Device(1, "APPLE_SILICON", "AppleSilicon")


@dataclass(frozen=True)
class Resources:
    """CPU, memory, accelerators and disk for a task's container (recorded only)."""

    cpu: Any = None
    memory: Any = None
    gpu: Any = None
    disk: str | None = None
    shm: Any = None


@dataclass(frozen=True)
class ReusePolicy:
    """Reusable containers ("actors"); locally every call runs in this process anyway."""

    replicas: int | tuple[int, int] = 2
    idle_ttl: int | timedelta | None = None
    concurrency: int = 1
    scaledown_ttl: int | timedelta | None = None


@dataclass(frozen=True)
class Secret:
    """A secret to inject. Locally nothing is injected: set the environment variable yourself."""

    key: str
    group: str | None = None
    mount: Any = None
    as_env_var: str | None = None


@dataclass(frozen=True)
class Timeout:
    """Time bounds of a task call.

    `max_runtime` bounds each attempt (enforced), `deadline` the whole call with
    its retries (enforced), `max_queued_time` the wait to start (nothing queues
    locally).
    """

    max_runtime: timedelta | int | None = None
    max_queued_time: timedelta | int | None = None
    deadline: timedelta | int | None = None


@dataclass(frozen=True)
class Backoff:
    """The wait before the n-th retry (0 for the first): `min(base * factor**n, cap)`."""

    base: timedelta
    factor: float = 1.0
    cap: timedelta | None = None

    def __post_init__(self) -> None:
        if self.base < timedelta(0):
            raise ValueError(f"Backoff.base must be >= 0, got {self.base}")
        if not isinstance(self.factor, (int, float)) or not math.isfinite(self.factor):
            raise ValueError(f"Backoff.factor must be a finite number, got {self.factor!r}")
        if self.factor < 1.0:
            raise ValueError(f"Backoff.factor must be >= 1.0, got {self.factor}")
        if self.cap is not None and self.cap < timedelta(0):
            raise ValueError(f"Backoff.cap must be >= 0, got {self.cap}")
        if self.factor > 1.0 and self.cap is None:
            raise ValueError(
                "Backoff.cap is required when factor > 1.0 to prevent unbounded growth"
            )

    def compute_delay(self, n: int) -> timedelta:
        """The wait before retry `n` (0 for the first)."""
        if n < 0:
            raise ValueError(f"Retry index n must be >= 0, got {n}")
        cap = self.cap.total_seconds() if self.cap is not None else math.inf
        try:
            delay = self.base.total_seconds() * self.factor**n
        except OverflowError:
            delay = math.inf
        return timedelta(seconds=min(delay, cap))

    def seconds(self, n: int) -> float:
        """`compute_delay(n)` in seconds."""
        return self.compute_delay(n).total_seconds()


@dataclass
class RetryStrategy:
    """How many times to retry a failed call."""

    count: int
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(
                f"RetryStrategy.count must be an int >= 0 (a retry count), got {self.count!r}"
            )


@dataclass(frozen=True)
class Documentation:
    """A task's documentation."""

    description: str | None = None


@dataclass(frozen=True)
class Link:
    """A link shown next to a task in Flyte's UI."""

    name: str = ""
    url: str = ""


class Recorded:
    """An object that keeps the arguments it was built with, and nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Recorded)
            and (self.args, self.kwargs) == (other.args, other.kwargs)
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))


class PodTemplate(Recorded):
    """A Kubernetes pod template (recorded only)."""


class Trigger(Recorded):
    """A schedule or event that starts runs; triggers do not fire locally."""


class Cron(Recorded):
    """A cron schedule for a `Trigger`."""


class FixedRate(Recorded):
    """A fixed-rate schedule for a `Trigger`."""


def _starter(how: str, doc: str) -> Any:
    """A `from_*` constructor of `Image`: it records `how` the image starts, with the
    arguments given."""

    def start(cls: type[Image], *args: Any, **kwargs: Any) -> Image:
        return cls(base=(how, args, tuple(sorted(kwargs.items()))))

    start.__name__ = start.__qualname__ = how
    start.__doc__ = doc
    return classmethod(start)


@dataclass(frozen=True)
class Image:
    """A container image spec: how it starts and the build steps after it (recorded only).

    Every `Image.from_*` constructor and `with_*` builder method of Flyte 2 is
    accepted; each returns a new `Image` with the step appended.
    """

    base: tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]] = ("auto", (), ())
    steps: tuple[tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]], ...] = field(default=())

    from_debian_base = _starter("from_debian_base", "Flyte's default Debian base image.")
    from_base = _starter("from_base", "An existing image by URI.")
    from_ref_name = _starter("from_ref_name", "An image named in the configuration.")
    from_dockerfile = _starter("from_dockerfile", "An image built from a Dockerfile.")
    from_uv_script = _starter("from_uv_script", "An image with the dependencies of a uv script.")
    from_pixi_script = _starter("from_pixi_script", "An image with a pixi script's dependencies.")

    def clone(self, **kwargs: Any) -> Image:
        """A copy with a new name or registry."""
        return self._then("clone", (), kwargs)

    def _then(self, how: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Image:
        return replace(self, steps=(*self.steps, (how, args, tuple(sorted(kwargs.items())))))

    def __getattr__(self, name: str) -> Callable[..., Image]:
        # Every builder method (`with_pip_packages`, `with_apt_packages`, ...) records its step.
        if not name.startswith("with_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def step(*args: Any, **kwargs: Any) -> Image:
            return self._then(name, args, kwargs)

        step.__name__ = name
        return step


def seconds(value: Any, where: str) -> float | None:
    """`value` (an int, a float or a `timedelta`) as seconds; `None` or `0` means no bound."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        total = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        total = float(value)
    else:
        raise ValueError(f"{where}={value!r}: give seconds (an int) or a datetime.timedelta.")
    if total < 0:
        raise ValueError(f"{where}={value!r} must not be negative.")
    return total or None
