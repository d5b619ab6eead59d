"""Response models of jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from learningtool.models import Job


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    state: str
    attempts: int
    max_attempts: int
    progress: float
    message: str
    error: str | None
    result: dict[str, Any] | None
    notebook_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def lease_expires_at(self) -> datetime | None:
        """While a job runs, `run_at` is when its lease expires."""
        return self.run_at if self.state == "running" else None

    @classmethod
    def of(cls, job: Job) -> JobRead:
        return cls.model_validate(job)
