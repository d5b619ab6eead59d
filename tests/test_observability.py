"""Health, readiness, Prometheus metrics, event-loop lag, and the one error shape."""

from __future__ import annotations

import asyncio

from httpx import ASGITransport, AsyncClient

from learningtool.jobs.worker import Worker
from tests.conftest import Api


async def test_metrics_expose_latency_jobs_and_loop_lag(api: Api, client: AsyncClient) -> None:
    await client.get("/api/v1/notebooks")
    notebook = (await client.post("/api/v1/notebooks", json={"name": "M"})).json()
    await client.delete(f"/api/v1/notebooks/{notebook['id']}")
    await Worker(api.context).drain()
    await asyncio.sleep(0.2)  # let the lag monitor take a few samples
    text = (await client.get("/metrics")).text
    assert (
        'learningtool_request_seconds_count{method="GET",route="/api/v1/notebooks",status="2xx"}'
        in text
    )
    assert 'learningtool_jobs{kind="notebook.purge",state="succeeded"} 1.0' in text
    assert "learningtool_event_loop_lag_seconds_count" in text
    assert "learningtool_event_loop_lag_max_seconds" in text


async def test_the_app_measures_its_own_loop_lag(api: Api) -> None:
    monitor = api.app.state.lag_monitor  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    assert len(monitor.samples()) >= 3
    assert monitor.recent_max() < 1.0


async def test_errors_share_one_shape_and_leak_nothing(api: Api) -> None:
    async def explode() -> None:
        raise RuntimeError("cannot open /srv/secret/data.db")

    api.app.add_api_route("/test/explode", explode)  # type: ignore[attr-defined]
    transport = ASGITransport(app=api.app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        crashed = await http.get("/test/explode")
        assert crashed.status_code == 500
        assert crashed.json() == {
            "error": {"code": "internal_error", "message": "internal error", "details": {}}
        }
        missing = await http.get("/no/such/route")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong_method = await http.put("/healthz")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_readiness_reports_the_worker(api: Api) -> None:
    async with api.client() as http:
        body = (await http.get("/readyz")).json()
    assert body["status"] == "ready"
    assert "worker" not in body["checks"]  # disabled in these tests
    assert body["event_loop_lag_max_seconds"] is not None
