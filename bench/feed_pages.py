"""Feed page bench: the web app's feed page and its next-page fetch at 100,000 feed items on
SQLite.

Run from the repository root: `python bench/feed_pages.py [--items N] [--runs R] ...`.
Prints one JSON document on stdout (progress goes to stderr). Nothing is asserted: each
target is reported with `met` true or false.

1. Data: `bench.feed.build_dataset` (a realistic mix of kinds over a year of sources, ties
   of tens of items, rare and common words) inserted in bulk by `bench.feed.populate` into a
   fresh SQLite file, after the app created the local user and the notebook.
2. App: `create_app` (worker off) under `uvicorn.Server.serve()` in this process on
   127.0.0.1; an httpx client on the same loop signs in through the printed link's code
   (`web.signin.start_link`) and keeps the session cookie, one request at a time.
3. Cases, each `--warmup` untimed calls then `--runs` timed ones: the feed page (newest,
   a kind, a rare and a common word, at a deep cursor as the no-JavaScript "More" link asks)
   and the next-page fragment htmx fetches (`/feed/more` with `HX-Request`, at the first
   page's cursor, and pages 1 to `--chain` following each fragment's next link). Each call
   is timed to its first byte (response headers) and to its full body; the page renders
   whole before it is sent, so the two differ by the transfer only.
4. Service split: the same first page's parts on a fresh session (`feed.service.counts`,
   `feed.service.page`), to say where the time goes.
`--explain` adds the plan of a kind's count (EXPLAIN QUERY PLAN).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.feed`

from bench import common  # noqa: E402
from bench.common import log, r  # noqa: E402

TARGETS_MS = {"page_full_p95": 300.0, "next_page_full_p95": 100.0}
LABELS = ("count", "p50", "p95", "max")
MORE = re.compile(r'<li class="more">\s*<a href="([^"]+)" hx-get="([^"]+)"')


def next_links(body: str) -> tuple[str, str] | None:
    """The "More" link's plain address and its fragment's, or None at the end."""
    found = MORE.search(body)
    return (html.unescape(found.group(1)), html.unescape(found.group(2))) if found else None


Timing = tuple[float, float, float]  # seconds to the first byte, to the whole body; CPU


async def timed_get(client: Any, path: str, headers: dict[str, str]) -> tuple[Timing, str]:
    """Seconds to the first byte (headers) and to the whole body, the CPU seconds this
    process (server and client) spent meanwhile, and the body."""
    cpu = time.process_time()
    started = time.perf_counter()
    async with client.stream("GET", path, headers=headers) as response:
        first = time.perf_counter() - started
        body = (await response.aread()).decode()
    full = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {body[:300]}")
    return (first, full, time.process_time() - cpu), body


async def measure(
    call: Callable[[int], Awaitable[Timing]], runs: int, warmup: int
) -> dict[str, Any]:
    for index in range(warmup):
        await call(index)
    timings = [await call(index) for index in range(runs)]
    return {
        name: common.ms_stats([timing[n] for timing in timings], LABELS, 2)
        for n, name in enumerate(("first_byte_ms", "full_ms", "cpu_ms"))
    }


def page_case(
    client: Any, path: str, hx: bool = False, expect: str = '<li class="item'
) -> Callable[[int], Awaitable[Timing]]:
    headers = {"HX-Request": "true"} if hx else {}

    async def call(_index: int) -> Timing:
        timing, body = await timed_get(client, path, headers)
        if expect not in body:
            raise RuntimeError(f"{path}: no {expect!r} in the answer")
        return timing

    return call


def chain_case(client: Any, start: str, pages: int) -> Callable[[int], Awaitable[Timing]]:
    """Fragments one after another, each at the previous one's next link, `pages` deep."""
    path, depth = start, 0

    async def call(_index: int) -> Timing:
        nonlocal path, depth
        if depth >= pages:
            path, depth = start, 0
        timing, body = await timed_get(client, path, {"HX-Request": "true"})
        links = next_links(body)
        path, depth = (links[1] if links else start), depth + 1
        return timing

    return call


async def sign_in(app: Any, client: Any, port: int) -> None:
    """The session cookie, through the one-time code the printed link carries."""
    from learningtool.web.signin import start_link

    link = await start_link(app.state.context.sessions, app.state.sign_in_codes, "", port)
    if link is None:
        raise RuntimeError("no local user to sign in")
    answer = await client.get(link[link.index("/signin") :])
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in answered {answer.status_code}")


async def service_split(app: Any, notebook: str, runs: int) -> dict[str, Any]:
    from learningtool.feed import service
    from learningtool.web.feed import PAGE_SIZE

    parts: dict[str, list[float]] = {"counts": [], "page": []}
    for _ in range(runs):
        async with app.state.context.sessions() as session:
            started = time.perf_counter()
            await service.counts(session, notebook)
            parts["counts"].append(time.perf_counter() - started)
            started = time.perf_counter()
            await service.page(session, notebook, cursor=None, limit=PAGE_SIZE)
            parts["page"].append(time.perf_counter() - started)
    return {name: common.ms_stats(values, LABELS, 2) for name, values in parts.items()}


async def counts_plan(app: Any, notebook: str) -> list[str]:
    from sqlalchemy import text

    query = text(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM feed_items "
        "WHERE notebook_id = :nb AND kind = :kind"
    )  # each of `feed.service.counts`'s subqueries
    async with app.state.context.engine.connect() as connection:
        rows = (await connection.execute(query, {"nb": notebook, "kind": "chunk"})).all()
    return [str(row[-1]) for row in rows]


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from bench.feed import app_settings, build_dataset, fresh_database, populate

    log(f"generating {args.items} feed items")
    data = build_dataset(args.items, args.cards, args.sources, args.seed)
    result: dict[str, Any] = {"dataset": data.describe}
    with fresh_database("sqlite", tmp, "") as database:
        settings = app_settings(tmp / "data", database.url, worker=False)
        from learningtool.main import create_app

        app = create_app(settings)
        async with (
            common.serve_app(app, start_seconds=120, stop_seconds=60) as server,
            common.local_client(settings, server.port) as client,
        ):
            created = await client.post(f"{common.API}/notebooks", json={"name": "Feed pages"})
            created.raise_for_status()
            notebook = created.json()["id"]
            data.set_notebook(notebook)
            log("inserting")
            result["populate"] = await asyncio.to_thread(populate, database.url, data)
            await sign_in(app, client, server.port)
            result["cases"] = await run_cases(client, notebook, data.rare_term, args)
            result["service_first_page"] = await service_split(app, notebook, args.runs)
            if args.explain:
                result["counts_plan"] = await counts_plan(app, notebook)
    return result


async def run_cases(
    client: Any, notebook: str, rare: str, args: argparse.Namespace
) -> dict[str, Any]:
    base = f"/notebooks/{notebook}/feed"
    _, first = await timed_get(client, base, {})
    links = next_links(first)
    if links is None:
        raise RuntimeError("the first page has no next link")
    deep = await deep_page(client, links[1], args.chain)
    cases = {
        "page_newest": page_case(client, base),
        "page_kind_flashcard": page_case(client, f"{base}?kind=flashcard"),
        "page_q_rare": page_case(client, f"{base}?q={rare}"),
        "page_q_common": page_case(client, f"{base}?q=energy"),
        f"page_at_cursor_{args.chain}_pages_deep": page_case(client, deep),
        "next_page_fragment": page_case(client, links[1], hx=True),
        "counts_fragment_after_paint": page_case(
            client, f"{base}/counts", hx=True, expect='class="count"'
        ),
        f"next_page_fragments_1_to_{args.chain}": chain_case(client, links[1], args.chain),
    }
    found = {}
    for name, call in cases.items():
        log(f"case {name}")
        found[name] = await measure(call, args.runs, args.warmup)
    return found


async def deep_page(client: Any, start: str, pages: int) -> str:
    """The plain ("More" link) address `pages` fragments after `start`."""
    path, plain = start, start
    for _ in range(pages):
        _, body = await timed_get(client, path, {"HX-Request": "true"})
        links = next_links(body)
        if links is None:
            break
        plain, path = links
    return plain


def targets(cases: dict[str, Any]) -> dict[str, Any]:
    pages = {k: v["full_ms"]["p95"] for k, v in cases.items() if k.startswith("page_")}
    nexts = {k: v["full_ms"]["p95"] for k, v in cases.items() if k.startswith("next_")}
    return {
        "page_full_p95": {
            "target_ms": TARGETS_MS["page_full_p95"],
            "values_ms": pages,
            "met": all(v <= TARGETS_MS["page_full_p95"] for v in pages.values()),
        },
        "next_page_full_p95": {
            "target_ms": TARGETS_MS["next_page_full_p95"],
            "values_ms": nexts,
            "met": all(v <= TARGETS_MS["next_page_full_p95"] for v in nexts.values()),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=5_000)
    parser.add_argument("--sources", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=40, help="timed calls per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per case")
    parser.add_argument("--chain", type=int, default=20, help="pages followed in a row")
    parser.add_argument("--explain", action="store_true", help="add the counts query's plan")
    parser.add_argument("--seed", type=int, default=20241128)
    args = parser.parse_args()

    from learningtool.logs import configure_logging

    configure_logging("WARNING", json=True)
    began = time.perf_counter()
    load_before = common.loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-feed-pages-"))
    try:
        outcome = asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        **common.identity("feed_pages"),
        "machine": common.machine(load_before, common.loadavg(), with_usable=True),
        "setup": {
            "backend": "sqlite",
            "transport": "uvicorn in this process on 127.0.0.1, httpx on the same loop, "
            "one request at a time, signed in with a session cookie",
            "runs_per_case": args.runs,
            "warmup_per_case": args.warmup,
        },
        **outcome,
        "targets": targets(outcome["cases"]),
        "bench_seconds": r(time.perf_counter() - began, 1),
    }
    common.emit(report, default=str)


if __name__ == "__main__":
    main()
