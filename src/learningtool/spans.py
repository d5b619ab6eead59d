"""Named spans over the steps of a request or a job, so that a bench can time them through a
seam the code offers instead of patching functions by their (often private) names: a patch
silently times nothing once its target is renamed, and it reaches into what is not an API.

A step declares itself with `@timed("name")`. Nothing is recorded until a recorder is
installed with `record(...)`; until then a call costs one extra await and one list check.
Recorders get (name, started, ended) on `time.monotonic()`, on the thread that awaited the
step (the event loop's), and must be quick: they run inside the request.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

Recorder = Callable[[str, float, float], None]

_recorders: list[Recorder] = []
_declared: set[str] = set()


def declared() -> frozenset[str]:
    """The span names of every module imported so far: a bench checks its list against it."""
    return frozenset(_declared)


def record(recorder: Recorder) -> Callable[[], None]:
    """Sends every span that ends from now on to `recorder`; returns what removes it."""
    _recorders.append(recorder)
    return lambda: _recorders.remove(recorder)


def timed(
    name: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Declares the decorated coroutine function as the span `name`."""
    _declared.add(name)

    def decorate(
        function: Callable[P, Coroutine[Any, Any, T]],
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if not _recorders:
                return await function(*args, **kwargs)
            started = time.monotonic()
            try:
                return await function(*args, **kwargs)
            finally:
                ended = time.monotonic()
                for recorder in list(_recorders):
                    recorder(name, started, ended)

        return wrapper

    return decorate
