"""The Topics view and a research run's page over HTTP: suggestions with their reasons and the
empty states, reject, accept (a run, its page), research on the learner's own question,
preferences, cancel and retry, the live route; another user's notebook, topic or run is a 404
on every route; changes without the CSRF token are refused; the report's `[n]` become links
to the exact passage spans (or the web page), and its text is escaped."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re

from httpx import AsyncClient
from sqlalchemy import update

from learningtool.db import session_scope
from learningtool.jobs.worker import Worker
from learningtool.models import ResearchRun
from learningtool.ratelimit import Limit, RateLimiter
from learningtool.web.reports import Citations, render_report
from learningtool.web.sessions import COOKIE
from tests.conftest import Api
from tests.research.test_research import BIOLOGY, QUESTION
from tests.web.test_notebook_pages import csrf_of
from tests.web.test_sign_in import signed_in
from tests.web.test_source_pages import event_stream, notebook_of

CITE = re.compile(r'<a class="cite" href="([^"]+)"[^>]*>\[(\d+)\]</a>')


async def ready_notebook(api: Api, owner: AsyncClient) -> str:
    """A notebook with the biology notes read and its topics suggested."""
    notebook_id = await notebook_of(owner)
    added = await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": BIOLOGY})
    assert added.status_code == 202, added.text
    await Worker(api.context).drain()
    return notebook_id


async def topics_token(http: AsyncClient, notebook_id: str) -> str:
    page = await http.get(f"/notebooks/{notebook_id}/topics")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def pending_topics(owner: AsyncClient, notebook_id: str) -> list[dict[str, str]]:
    answer = await owner.get(f"/api/v1/notebooks/{notebook_id}/topics?status=pending")
    return list(answer.json())


async def own_run(http: AsyncClient, notebook_id: str, token: str, question: str = QUESTION) -> str:
    started = await http.post(
        f"/notebooks/{notebook_id}/research",
        data={"question": question, "effort": "low", "csrf_token": token},
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith(f"/notebooks/{notebook_id}/research/")
    return location.rsplit("/", 1)[1]


async def test_the_topics_page_says_what_to_do_when_empty(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        page = await http.get(f"/notebooks/{notebook_id}/topics")
        assert page.status_code == 200
        assert "No topics to suggest. Add sources on the" in page.text
        assert "No research yet." in page.text
        assert 'aria-current="page">Topics' in page.text
        assert "/assets/topics.css" in page.text and "<style" not in page.text
        assert "hx-trigger" not in page.text  # nothing under way: no polling
        await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": BIOLOGY})
        busy = await http.get(f"/notebooks/{notebook_id}/topics/live")
        assert "Topics are suggested once a source has been read" in busy.text
        assert 'hx-trigger="every 2s"' in busy.text
        await owner.put(
            f"/api/v1/notebooks/{notebook_id}/topic-preferences", json={"enabled": False}
        )
        off = await http.get(f"/notebooks/{notebook_id}/topics")
        assert "Suggestions are turned off for this notebook" in off.text


async def test_suggestions_show_their_reasons_reject_and_accept(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        topics = await pending_topics(owner, notebook_id)
        assert len(topics) >= 2, topics
        page = await http.get(f"/notebooks/{notebook_id}/topics")
        token = csrf_of(page.text)
        for topic in topics:
            assert html.escape(topic["question"], quote=False) in page.text
            assert html.escape(topic["rationale"], quote=False) in page.text
        assert "Why:" in page.text and "Prompted by" in page.text
        first, second = topics[0], topics[1]
        passage = first["passages"][0]  # type: ignore[index]
        assert (
            f"/sources/{passage['source_id']}/passage?start={passage['start_char']}"  # type: ignore[index]
            f"&amp;end={passage['end_char']}"  # type: ignore[index]
        ) in page.text

        rejected = await http.post(
            f"/notebooks/{notebook_id}/topics/{first['id']}/reject", data={"csrf_token": token}
        )
        assert rejected.status_code == 303
        after = await http.get(f"/notebooks/{notebook_id}/topics")
        assert "Rejected topics (1)" in after.text
        assert f"topic-{first['id']}" not in after.text

        accepted = await http.post(
            f"/notebooks/{notebook_id}/topics/{second['id']}/accept", data={"csrf_token": token}
        )
        assert accepted.status_code == 303
        run_page = accepted.headers["location"]
        again = await http.post(
            f"/notebooks/{notebook_id}/topics/{second['id']}/accept", data={"csrf_token": token}
        )
        assert again.headers["location"] == run_page  # one run per topic
        waiting = await http.get(run_page)
        assert "Waiting to start" in waiting.text and "Cancel research" in waiting.text
        assert f'data-live-run="{run_page}/events"' in waiting.text
        late = await http.post(
            f"/notebooks/{notebook_id}/topics/{second['id']}/reject", data={"csrf_token": token}
        )
        assert late.status_code == 409 and "The topic is already accepted" in late.text
        listed = await http.get(f"/notebooks/{notebook_id}/topics")
        assert f'href="{run_page}"' in listed.text and "Waiting to start" in listed.text

        await Worker(api.context).drain()
        done = await http.get(run_page)
        assert "Done" in done.text and "Cancel research" not in done.text
        assert "data-live-run" not in done.text
        assert CITE.search(done.text), done.text


async def test_report_markers_link_to_the_passage_spans_they_cite(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        run_id = await own_run(http, notebook_id, await topics_token(http, notebook_id))
        await Worker(api.context).drain()
        run = (await owner.get(f"/api/v1/notebooks/{notebook_id}/research/{run_id}")).json()
        assert run["status"] == "done" and run["citations"]
        page = await http.get(f"/notebooks/{notebook_id}/research/{run_id}")
        links = CITE.findall(page.text)
        assert {int(n) for _, n in links} == {c["n"] for c in run["citations"]}
        by_number = {c["n"]: c for c in run["citations"]}
        for href, number in links:
            cited = by_number[int(number)]
            href = html.unescape(href)
            spans = [(q["start_char"], q["end_char"]) for q in cited["quotes"]]
            found = re.search(r"/sources/(\w+)/passage\?start=(\d+)&end=(\d+)$", href)
            assert found, href
            assert found.group(1) == cited["source_id"]
            assert (int(found.group(2)), int(found.group(3))) in spans
        href, number = links[0]
        passage = await http.get(html.unescape(href))
        assert passage.status_code == 200
        quote = by_number[int(number)]["quote"]
        assert f'<mark id="span">{html.escape(quote, quote=False)}</mark>' in passage.text


async def test_the_report_is_escaped_and_web_citations_open_the_page(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        run_id = await own_run(http, notebook_id, await topics_token(http, notebook_id))
        report = (
            "# A question\n\n<script>alert('x')</script> is **bold** [1] and [2].\n\n"
            "- see [this](javascript:alert(1)) and [that](https://example.org/a?b=1&c=2)\n"
        )
        citations = [
            {
                "n": 1,
                "kind": "web",
                "title": "<b>Web</b>",
                "quote": "",
                "url": "https://example.org/p",
            },
            {"n": 2, "kind": "web", "title": "Bad", "quote": "", "url": "javascript:alert(2)"},
        ]
        async with session_scope(api.context.sessions) as session:
            await session.execute(
                update(ResearchRun)
                .where(ResearchRun.id == run_id)
                .values(status="done", report=report, citations=citations)
            )
        page = await http.get(f"/notebooks/{notebook_id}/research/{run_id}")
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
        assert "<script>alert" not in page.text and "<b>Web</b>" not in page.text
        assert "<strong>bold</strong>" in page.text
        assert (
            '<a class="cite web" href="https://example.org/p" rel="noopener noreferrer"'
            in page.text
        )
        assert "[2]" in page.text and 'href="javascript:' not in page.text
        assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer">that</a>' in (
            page.text
        )


def test_markers_ranges_and_escaped_brackets_render_as_written() -> None:
    citations = Citations(
        "nb",
        [
            {"n": 1, "kind": "passage", "source_id": "s1", "start_char": 0, "end_char": 50,
             "quotes": [{"text": "Cells divide.", "start_char": 3, "end_char": 16},
                        {"text": "Roots drink water.", "start_char": 20, "end_char": 38}]},
            {"n": 2, "kind": "passage", "source_id": "s2", "start_char": 5, "end_char": 9,
             "quote_start_char": 6, "quote_end_char": 8},
        ],
    )  # fmt: skip
    rendered = str(render_report("Roots drink water [1-2]. A \\[3\\] and [9].", citations))
    assert "/sources/s1/passage?start=20&amp;end=38" in rendered  # the closest quote
    assert "/sources/s2/passage?start=6&amp;end=8" in rendered
    assert "A [3] and [9]." in rendered  # escaped, and unknown: plain text
    listed = str(render_report("## Sources\n\n- [1] **Cells**: “Cells divide.”", citations))
    assert listed.startswith("<h3>Sources</h3>\n<ul><li>")
    assert "start=3&amp;end=16" in listed


def one_research_run_at_a_time(api: Api) -> None:
    limits = api.app.state.rate_limits  # type: ignore[attr-defined]
    research = RateLimiter(Limit(1, 1), "research runs")
    api.app.state.rate_limits = dataclasses.replace(limits, research=research)  # type: ignore[attr-defined]


async def test_own_question_preferences_cancel_and_retry(api: Api) -> None:
    """Also: starting spends the user's research allowance, as the API's start does."""
    one_research_run_at_a_time(api)
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await topics_token(http, notebook_id)
        blank = await http.post(
            f"/notebooks/{notebook_id}/research", data={"question": "  ", "csrf_token": token}
        )
        assert blank.status_code == 422 and "The question is empty." in blank.text
        saved = await http.post(
            f"/notebooks/{notebook_id}/topics/preferences",
            data={"count": "2", "min_score": "0.3", "domains": "https://Nature.com/x\nusgs.gov",
                  "csrf_token": token},
        )  # fmt: skip
        assert saved.status_code == 303
        prefs = (await owner.get(f"/api/v1/notebooks/{notebook_id}/topic-preferences")).json()
        assert prefs == {
            "enabled": False, "count": 2, "min_score": 0.3,
            "preferred_domains": ["nature.com", "usgs.gov"],
        }  # fmt: skip
        bad = await http.post(
            f"/notebooks/{notebook_id}/topics/preferences",
            data={"count": "2", "min_score": "0", "domains": "nonsense", "csrf_token": token},
        )
        assert bad.status_code == 422 and "Not a domain name: &#39;nonsense&#39;" in bad.text

        run_id = await own_run(http, notebook_id, token, "What is a stroma?")
        base = f"/notebooks/{notebook_id}/research/{run_id}"
        cancelled = await http.post(f"{base}/cancel", data={"csrf_token": token})
        assert (cancelled.status_code, cancelled.headers["location"]) == (303, base)
        page = await http.get(base)
        assert "This research was cancelled." in page.text and "Retry research" in page.text
        twice = await http.post(f"{base}/cancel", data={"csrf_token": token})
        assert twice.status_code == 409 and "The run is already cancelled." in twice.text
        retried = await http.post(f"{base}/retry", data={"csrf_token": token})
        assert retried.status_code == 303
        assert "Waiting to start" in (await http.get(base)).text
        again = await http.post(  # the blank question was refused: its allowance given back
            f"/notebooks/{notebook_id}/research", data={"question": "Why?", "csrf_token": token}
        )
        assert again.status_code == 429 and "Too many research runs; try again in" in again.text
        assert "Why?" in again.text  # the form keeps what was typed


async def test_the_live_route_sends_the_run_until_it_is_done(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        run_id = await own_run(http, notebook_id, await topics_token(http, notebook_id))
        path = f"/notebooks/{notebook_id}/research/{run_id}/events"
        async with event_stream(api, path, http.cookies[COOKIE]) as events:
            async with asyncio.timeout(10):
                first = await events.get()
            assert first.startswith("event: run") and "Waiting to start" in first
            worker = asyncio.create_task(Worker(api.context).drain())
            seen = [first]
            async with asyncio.timeout(60):
                while not seen[-1].startswith("event: done"):
                    seen.append(await events.get())
            await worker
        assert any("Planned" in event for event in seen[1:-1])
        assert 'class="cite"' in seen[-2] and "Steps of the research" in seen[-2]
        finished = await http.get(path)  # a finished run: its state, then done, and the end
        assert finished.text.count("event: run") == 1 and "event: done" in finished.text


async def test_changes_without_the_csrf_token_are_refused(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        [topic, *_] = await pending_topics(owner, notebook_id)
        token = await topics_token(http, notebook_id)
        run_id = await own_run(http, notebook_id, token)
        for path, data in (
            (f"topics/{topic['id']}/accept", {}),
            (f"topics/{topic['id']}/reject", {}),
            ("research", {"question": QUESTION}),
            ("topics/preferences", {"count": "1", "min_score": "0"}),
            (f"research/{run_id}/cancel", {}),
        ):
            refused = await http.post(f"/notebooks/{notebook_id}/{path}", data=data)
            assert refused.status_code == 403, path
            assert "did not come from this site" in refused.text
        forged = await http.post(
            f"/notebooks/{notebook_id}/topics/{topic['id']}/accept",
            data={"csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403
        still = (await owner.get(f"/api/v1/notebooks/{notebook_id}/topics/{topic['id']}")).json()
        assert still["status"] == "pending"
        runs = (await owner.get(f"/api/v1/notebooks/{notebook_id}/research")).json()
        assert [(r["id"], r["status"]) for r in runs] == [(run_id, "queued")]


async def test_another_users_notebook_topic_and_run_are_not_found(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as stranger:
        notebook_id = await ready_notebook(api, owner)
        [topic, *_] = await pending_topics(owner, notebook_id)
        started = await owner.post(
            f"/api/v1/notebooks/{notebook_id}/research", json={"question": QUESTION}
        )
        run_id = started.json()["run"]["id"]
        other = await api.new_user("other")
        async with api.client(other) as their_api:
            mine = await notebook_of(their_api, "Mine")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        token = await topics_token(stranger, mine)
        theirs = f"/notebooks/{notebook_id}"
        for path in (
            f"{theirs}/topics",
            f"{theirs}/topics/live",
            f"{theirs}/research/{run_id}",
            f"{theirs}/research/{run_id}/events",
        ):
            answer = await stranger.get(path)
            assert answer.status_code == 404, path
            assert "Notebook not found." in answer.text
        posts = (
            (f"topics/{topic['id']}/accept", {}),
            (f"topics/{topic['id']}/reject", {}),
            ("research", {"question": QUESTION}),
            ("topics/preferences", {"count": "1", "min_score": "0"}),
            (f"research/{run_id}/cancel", {}),
            (f"research/{run_id}/retry", {}),
        )
        for path, data in posts:
            answer = await stranger.post(f"{theirs}/{path}", data={**data, "csrf_token": token})
            assert answer.status_code == 404, path
        # Their topic or run under the stranger's own notebook is not found either.
        for path, words in (
            (f"/notebooks/{mine}/research/{run_id}", "Research run not found."),
            (f"/notebooks/{mine}/research/{run_id}/events", "Research run not found."),
        ):
            answer = await stranger.get(path)
            assert answer.status_code == 404 and words in answer.text, path
        for path, words in (
            (f"topics/{topic['id']}/accept", "Topic not found."),
            (f"topics/{topic['id']}/reject", "Topic not found."),
            (f"research/{run_id}/cancel", "Research run not found."),
        ):
            answer = await stranger.post(f"/notebooks/{mine}/{path}", data={"csrf_token": token})
            assert answer.status_code == 404 and words in answer.text, path
        still = (await owner.get(f"/api/v1/notebooks/{notebook_id}/topics/{topic['id']}")).json()
        assert still["status"] == "pending"
        run = (await owner.get(f"/api/v1/notebooks/{notebook_id}/research/{run_id}")).json()
        assert run["status"] == "queued"
