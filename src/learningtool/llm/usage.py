"""Token accounting: what each model call cost, summed per job and per task, so a job can
store what it spent (failed calls included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Usage:
    """Tokens spent, as reported by the provider (0 when it does not say), and model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.calls + other.calls,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls": self.calls,
        }


class UsageSink(Protocol):
    def record(self, task: str, usage: Usage) -> None: ...


class UsageRecorder:
    """Accumulates the tokens of every model call made for one job, overall and per task.
    Pass it as `usage=` to `structured`/`stream_text`; failed calls are counted too."""

    def __init__(self) -> None:
        self.total = Usage()
        self.by_task: dict[str, Usage] = {}

    def record(self, task: str, usage: Usage) -> None:
        self.total += usage
        self.by_task[task] = self.by_task.get(task, Usage()) + usage

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, to store on a job's result."""
        return {
            **self.total.as_dict(),
            "by_task": {task: usage.as_dict() for task, usage in sorted(self.by_task.items())},
        }


@dataclass(frozen=True)
class Result(Generic[T]):
    """A validated structured reply: the value, the tokens spent on all attempts, and how many
    model replies it took (1, or 2 when the first reply had to be repaired)."""

    value: T
    usage: Usage
    attempts: int
