"""Prometheus metrics: request latency, jobs by state, and event-loop lag measured continuously."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Message, Receive, Scope, Send

from learningtool.asgi import HttpMiddleware

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "learningtool_request_seconds",
    "HTTP request latency by route template and status class.",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS_BY_STATE = Gauge(
    "learningtool_jobs",
    "Jobs in the database by kind and state.",
    ["kind", "state"],
    registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "learningtool_jobs_finished_total",
    "Jobs finished by this process.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "learningtool_event_loop_lag_seconds",
    "How late the event loop wakes a timer: time it could not serve anything else.",
    registry=REGISTRY,
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
LOOP_LAG_MAX = Gauge(
    "learningtool_event_loop_lag_max_seconds",
    "Largest event-loop lag over the last minute.",
    registry=REGISTRY,
)


class LoopLagMonitor:
    """Sleeps `interval` seconds in a loop and records how much later than asked it woke up.

    A blocked loop cannot wake the timer, so lag is a direct reading of blocking. Samples of
    the last minute are kept for `recent_max()` (used by benches and `/readyz`).
    """

    def __init__(self, interval: float = 0.05, window: float = 60.0) -> None:
        self.interval = interval
        self._samples: deque[tuple[float, float]] = deque()
        self._window = window
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def recent_max(self) -> float:
        return max((lag for _, lag in self._samples), default=0.0)

    def samples(self) -> list[float]:
        return [lag for _, lag in self._samples]

    def timed_samples(self) -> list[tuple[float, float]]:
        """(loop time when it woke, lag) of the last minute: benches line lags up with what
        they measured at the same time."""
        return list(self._samples)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            now = loop.time()
            lag = max(0.0, now - started - self.interval)
            self._samples.append((now, lag))
            while self._samples and self._samples[0][0] < now - self._window:
                self._samples.popleft()
            LOOP_LAG.observe(lag)
            LOOP_LAG_MAX.set(self.recent_max())


class RequestMetricsMiddleware(HttpMiddleware):
    """Times each HTTP request."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUEST_LATENCY.labels(
                scope["method"], route_template(scope), f"{status // 100}xx"
            ).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route as a template (`/api/v1/notebooks/{notebook_id}`), rebuilt from the
    path and its parameters so that label values stay few; `unmatched` when nothing matched."""
    if "route" not in scope:
        return "unmatched"
    names = {str(value): name for name, value in scope.get("path_params", {}).items()}
    segments = scope["path"].split("/")
    return "/".join(f"{{{names[s]}}}" if s in names else s for s in segments)
