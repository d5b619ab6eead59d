"""Liveness, readiness and Prometheus metrics: the routes that need no token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from learningtool.deps import AppDep
from learningtool.jobs import queue
from learningtool.metrics import JOBS_BY_STATE, REGISTRY

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and its loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, app: AppDep) -> JSONResponse:
    """Ready when the database answers and, if enabled, the in-process worker is running."""
    checks: dict[str, str] = {}
    try:
        async with app.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    worker_task = getattr(request.app.state, "worker_task", None)
    if app.settings.worker_enabled:
        checks["worker"] = "ok" if worker_task is not None and not worker_task.done() else "stopped"
    monitor = getattr(request.app.state, "lag_monitor", None)
    ready = all(value == "ok" for value in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "event_loop_lag_max_seconds": monitor.recent_max() if monitor else None,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
@router.get("/learningtool/metrics", include_in_schema=False)
async def metrics(app: AppDep) -> Response:
    """Prometheus text. Also at `/learningtool/metrics`, because under `langgraph dev` the
    LangGraph server's own `/metrics` takes precedence over the app's."""
    async with app.sessions() as session:
        counts = await queue.counts_by_state(session)
    JOBS_BY_STATE.clear()
    for (kind, state), count in counts.items():
        JOBS_BY_STATE.labels(kind, state).set(count)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
