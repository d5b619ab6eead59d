"""Job handlers by name (`"domain.verb"`), and what a handler is given to do its work."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:  # the context is assembled above the jobs; handlers get it at run time
    from learningtool.context import AppContext


class JobError(Exception):
    """A failure whose message is fit to show the user. `retryable=False` fails the job at once."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class PermanentJobError(JobError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


ProgressFn = Callable[[float, str], Awaitable[None]]


@dataclass
class JobContext:
    """Given to a handler. Writes made through `session` commit together with the job's
    completion, and only if this worker still holds the job's lease: a handler whose worker
    lost the job (died, timed out, cancelled) leaves no effect. Effects outside the database
    (files, indexes) must be idempotent, since a job can run again after a crash."""

    app: AppContext
    job_id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    session: AsyncSession
    progress: ProgressFn


Handler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]
# Called in the transaction that ends a job as failed (for good) or cancelled, so that the
# object it worked on never stays half-processed: (session, payload, reason).
FailureHook = Callable[[AsyncSession, dict[str, Any], str], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    kind: str
    handler: Handler
    timeout_seconds: float
    on_failure: FailureHook | None


_HANDLERS: dict[str, JobSpec] = {}

# Modules whose import registers the service's own handlers.
BUILTIN_MODULES = (
    "learningtool.notebook.tasks",
    "learningtool.source.tasks",
    "learningtool.study.tasks",
    "learningtool.topics.tasks",
    "learningtool.research.tasks",
)


def job(
    kind: str, *, timeout_seconds: float = 600.0, on_failure: FailureHook | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler` under `kind`. Handlers take ids in their payload and reload state."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[kind] = JobSpec(kind, handler, timeout_seconds, on_failure)
        return handler

    return register


def get_spec(kind: str) -> JobSpec | None:
    return _HANDLERS.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


def load_handlers(extra_modules: list[str] | tuple[str, ...] = ()) -> None:
    for module in (*BUILTIN_MODULES, *extra_modules):
        importlib.import_module(module)
