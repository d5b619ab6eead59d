"""The chat pages over HTTP: sessions started, renamed, deleted and listed; a question asked
without JavaScript (a plain form post answered by the page once the answer is complete), and
streamed as the API's events plus the finished message's HTML; citations link to the passage
page; an unsupported claim is marked in words; a question without the CSRF token is refused;
another user's notebook or session is a 404 on every route."""

from __future__ import annotations

import json
import re
from typing import Any

from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from learningtool.llm import create_llm_client
from tests.conftest import Api
from tests.support.fake_openai import FakeOpenAI, completion, streamed
from tests.web.test_notebook_pages import csrf_of
from tests.web.test_sign_in import signed_in
from tests.web.test_source_pages import notebook_of

BIOLOGY = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma. "
    "The enzyme RuBisCO catalyses the first step of the Calvin cycle.\n\n"
    "## Respiration\n\nMitochondria release the energy stored in glucose as ATP.\n"
)


async def ready_notebook(api: Api, owner: AsyncClient) -> str:
    notebook_id = await notebook_of(owner)
    await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": BIOLOGY})
    await Worker(api.context).drain()
    return notebook_id


async def new_chat(http: AsyncClient, notebook_id: str) -> tuple[str, str]:
    """Start a chat from the chat page; its id and the page's CSRF token."""
    token = csrf_of((await http.get(f"/notebooks/{notebook_id}/chat")).text)
    started = await http.post(f"/notebooks/{notebook_id}/chat", data={"csrf_token": token})
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith(f"/notebooks/{notebook_id}/chat/")
    return location.rsplit("/", 1)[1], token


async def events_of(http: AsyncClient, url: str, data: dict[str, str], token: str) -> list:
    """The page's streamed answer: (event, data) pairs, JSON but for the `answer` HTML."""
    headers = {"Accept": "text/event-stream", "X-CSRF-Token": token}
    found: list[tuple[str, Any]] = []
    async with http.stream("POST", url, data=data, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name, lines = None, []
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].removeprefix(" "))
            elif not line and name:
                text = "\n".join(lines)
                found.append((name, text if name == "answer" else json.loads(text)))
                name, lines = None, []
    return found


async def test_sessions_are_started_renamed_listed_and_deleted(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        empty = await http.get(f"/notebooks/{notebook_id}/chat")
        assert empty.status_code == 200 and "No chats yet." in empty.text
        assert 'aria-current="page">Chat</a>' in empty.text
        chat_id, token = await new_chat(http, notebook_id)
        page = await http.get(f"/notebooks/{notebook_id}/chat/{chat_id}")
        assert "Nothing asked yet." in page.text and "New chat" in page.text
        assert "<script>" not in page.text and " style=" not in page.text
        base = f"/notebooks/{notebook_id}/chat/{chat_id}"
        blank = await http.post(f"{base}/rename", data={"title": " ", "csrf_token": token})
        assert blank.status_code == 422 and "A chat needs a title." in blank.text
        renamed = await http.post(f"{base}/rename", data={"title": "Leaves", "csrf_token": token})
        assert renamed.status_code == 303
        listed = await http.get(f"/notebooks/{notebook_id}/chat")
        assert f'href="{base}">Leaves</a>' in listed.text
        api_list = (await owner.get(f"/api/v1/notebooks/{notebook_id}/chat/sessions")).json()
        assert [s["title"] for s in api_list] == ["Leaves"]
        confirm = await http.get(f"{base}/delete")
        assert "Delete the chat “Leaves”?" in confirm.text
        gone = await http.post(f"{base}/delete", data={"csrf_token": token})
        assert (gone.status_code, gone.headers["location"]) == (
            303,
            f"/notebooks/{notebook_id}/chat",
        )
        assert (await http.get(base)).status_code == 404
        assert (await owner.get(f"/api/v1/notebooks/{notebook_id}/chat/sessions")).json() == []


async def test_asking_without_javascript_answers_with_the_page(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        chat_id, token = await new_chat(http, notebook_id)
        base = f"/notebooks/{notebook_id}/chat/{chat_id}"
        empty = await http.post(f"{base}/messages", data={"content": "  ", "csrf_token": token})
        assert empty.status_code == 422 and "Type a question first." in empty.text
        question = "Which enzyme catalyses the first step of the Calvin cycle?"
        asked = await http.post(f"{base}/messages", data={"content": question, "csrf_token": token})
        assert asked.status_code == 303
        assert asked.headers["location"].startswith(f"{base}#message-")
        page = (await http.get(base)).text
        assert "You asked" in page and question in page
        assert "RuBisCO" in page and 'class="claim supported"' in page
        links = re.findall(r'<a class="cite" href="([^"]+)"', page)
        assert links and links[0].startswith(f"/notebooks/{notebook_id}/sources/")
        passage = await http.get(links[0].replace("&amp;", "&"))
        assert passage.status_code == 200
        highlighted = re.search(r'<mark id="span">([^<]*)</mark>', passage.text)
        assert highlighted and "RuBisCO" in highlighted.group(1)
        # The chat took its first question as its title.
        assert f'aria-current="page">{question}</a>' in page


async def test_a_streamed_answer_sends_the_apis_events_then_its_html(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        chat_id, token = await new_chat(http, notebook_id)
        url = f"/notebooks/{notebook_id}/chat/{chat_id}/messages"
        events = await events_of(http, url, {"content": "What do mitochondria release?"}, token)
        names = [name for name, _ in events]
        assert names[:2] == ["message", "retrieved"] and names[-2:] == ["done", "answer"]
        assert {"token", "citations", "claims"} <= set(names)
        words = "".join(data for name, data in events if name == "token")
        assert "ATP" in words
        answer_id = events[0][1]["answer_id"]
        html = events[-1][1]
        assert html.startswith(
            f'<li class="message answer status-complete" id="message-{answer_id}"'
        )
        assert 'class="cite"' in html and "Passages cited" in html
        history = (
            await owner.get(f"/api/v1/notebooks/{notebook_id}/chat/sessions/{chat_id}/messages")
        ).json()
        assert history["messages"][1]["content"] == words


async def test_a_question_without_the_csrf_token_is_refused(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        chat_id, token = await new_chat(http, notebook_id)
        base = f"/notebooks/{notebook_id}/chat/{chat_id}"
        for headers in ({}, {"Accept": "text/event-stream"}):
            refused = await http.post(f"{base}/messages", data={"content": "Hi?"}, headers=headers)
            assert refused.status_code == 403 and "reload the page" in refused.text
        foreign = await http.post(
            f"{base}/messages",
            data={"content": "Hi?", "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        for action in ("rename", "delete"):
            assert (await http.post(f"{base}/{action}", data={"title": "x"})).status_code == 403
        assert (await http.post(f"/notebooks/{notebook_id}/chat")).status_code == 403
        messages = f"/api/v1/notebooks/{notebook_id}/chat/sessions/{chat_id}/messages"
        assert (await owner.get(messages)).json()["messages"] == []


async def test_an_unsupported_claim_is_marked_in_the_page(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http, FakeOpenAI() as server:
        await signed_in(api, http)
        notebook_id = await ready_notebook(api, owner)
        said = ["Chloroplasts are made of cheese [1]. ", "RuBisCO acts in the Calvin cycle [1]."]
        server.script(streamed(said), completion('{"supported": false}'))
        api.context.llm = await create_llm_client(server.llm_settings(api.context.settings))
        chat_id, token = await new_chat(http, notebook_id)
        base = f"/notebooks/{notebook_id}/chat/{chat_id}"
        data = {"content": "Tell me about RuBisCO.", "csrf_token": token}
        assert (await http.post(f"{base}/messages", data=data)).status_code == 303
        page = (await http.get(base)).text
    cheese = re.search(r'<span class="claim unsupported">(.*?)</span>\n', page, re.S)
    assert cheese and "made of cheese" in cheese.group(1)
    assert "not supported by the cited passage" in cheese.group(1)
    rubisco = re.search(r'<span class="claim supported">(.*?)</span>\n', page, re.S)
    assert rubisco and "RuBisCO" in rubisco.group(1) and "not supported" not in rubisco.group(1)


async def test_another_users_notebook_and_session_are_not_found(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as mine, api.client() as stranger:
        await signed_in(api, mine)
        notebook_id = await notebook_of(owner)
        chat_id, _ = await new_chat(mine, notebook_id)
        other = await api.new_user("other")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        token = csrf_of((await stranger.get("/")).text)
        await stranger.post("/notebooks", data={"name": "Mine", "csrf_token": token})
        own = (await stranger.get("/")).text.split('href="/notebooks/')[1].split('"')[0]
        theirs = f"/notebooks/{notebook_id}/chat"
        for path in (
            theirs,
            f"{theirs}/{chat_id}",
            f"{theirs}/{chat_id}/rename",
            f"{theirs}/{chat_id}/delete",
            f"/notebooks/{own}/chat/{chat_id}",
        ):
            answer = await stranger.get(path)
            assert answer.status_code == 404, path
        for path, data in (
            (theirs, {}),
            (f"{theirs}/{chat_id}/messages", {"content": "What is ATP?"}),
            (f"{theirs}/{chat_id}/rename", {"title": "Mine now"}),
            (f"{theirs}/{chat_id}/delete", {}),
            (f"/notebooks/{own}/chat/{chat_id}/messages", {"content": "What is ATP?"}),
            (f"/notebooks/{own}/chat/{chat_id}/delete", {}),
        ):
            answer = await stranger.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 404, path
        sessions = (await owner.get(f"/api/v1/notebooks/{notebook_id}/chat/sessions")).json()
        assert [s["title"] for s in sessions] == ["New chat"]
