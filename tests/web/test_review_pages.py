"""The review pages over HTTP: a session of due cards (front, answer, the four ratings as plain
forms, the next due date after each), editing and suspending a card, the exports, the due
counts of every notebook, the empty states; another user's notebook or card is a 404 on every
route, a rating without the CSRF token is refused, a value that is not a rating is refused in
words."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from learningtool.web.review import due_phrase, interval_label
from tests.conftest import Api
from tests.study.test_study import TEXT
from tests.web.test_notebook_pages import csrf_of
from tests.web.test_sign_in import signed_in
from tests.web.test_source_pages import notebook_of


async def with_cards(api: Api, owner: AsyncClient, name: str = "Biology") -> str:
    """A notebook whose source the offline engine has turned into flashcards."""
    notebook_id = await notebook_of(owner, name)
    added = await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": TEXT})
    assert added.status_code == 202, added.text
    await Worker(api.context).drain()
    return notebook_id


async def due_cards(owner: AsyncClient, notebook_id: str) -> list[dict]:
    answer = await owner.get(f"/api/v1/notebooks/{notebook_id}/cards", params={"due": True})
    return list(answer.json()["cards"])


def shown_card(page: str) -> str:
    found = re.search(r'/review/cards/([0-9a-f]+)/rate"', page)
    assert found, page
    return found.group(1)


async def test_a_session_shows_a_card_rates_it_and_says_when_it_is_due_again(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await with_cards(api, owner)
        due = await due_cards(owner, notebook_id)
        assert len(due) >= 3
        page = await http.get(f"/notebooks/{notebook_id}/review")
        assert page.status_code == 200
        assert f"<strong>{len(due)}</strong> cards due now" in page.text
        card = due[0]
        assert shown_card(page.text) == card["id"]  # the soonest due first
        assert card["front"].replace("'", "&#39;") in page.text
        assert '<details class="answer" id="answer">' in page.text
        assert 'aria-current="page">Review</a>' in page.text
        passage = (
            f"/notebooks/{notebook_id}/sources/{card['source_id']}/passage"
            f"?start={card['start_char']}&amp;end={card['end_char']}"
        )
        assert passage in page.text
        assert re.search(r'value="good"[^>]*>\s*<span class="label">Good <kbd>3</kbd>', page.text)
        assert '<span class="wait">10 min</span>' in page.text  # what Good schedules
        assert "<script>" not in page.text and " style=" not in page.text
        assert (await http.get("/assets/review.js")).status_code == 200
        assert (await http.get("/assets/review.css")).status_code == 200

        rated = await http.post(
            f"/notebooks/{notebook_id}/review/cards/{card['id']}/rate",
            data={"rating": "good", "csrf_token": csrf_of(page.text)},
        )
        assert rated.status_code == 303
        assert rated.headers["location"] == (
            f"/notebooks/{notebook_id}/review?last={card['id']}&did=good"
        )
        after = await http.get(rated.headers["location"])
        assert "rated Good, due again <time" in after.text
        assert ">in 10 minutes</time>" in after.text
        assert f"<strong>{len(due) - 1}</strong> card" in after.text
        assert shown_card(after.text) == due[1]["id"]
        # The card shown is the next one, front and back: the notice names the rated one.
        front = re.search(r'<div class="front" id="front">(.*?)</div>', after.text, re.S)
        assert front and html.unescape(front.group(1)) == due[1]["front"]
        back = re.search(r'<div class="back" id="back">(.*?)</div>', after.text, re.S)
        assert back and html.unescape(back.group(1)) == due[1]["back"]
        reviewed = (await owner.get(f"/api/v1/notebooks/{notebook_id}/cards/{card['id']}")).json()
        assert reviewed["reps"] == 1 and reviewed["last_review_at"] is not None


async def test_a_rating_needs_the_csrf_token_and_a_known_value(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await with_cards(api, owner)
        card = (await due_cards(owner, notebook_id))[0]
        token = csrf_of((await http.get(f"/notebooks/{notebook_id}/review")).text)
        rate = f"/notebooks/{notebook_id}/review/cards/{card['id']}/rate"
        forged = await http.post(rate, data={"rating": "good"})
        assert forged.status_code == 403 and "did not come from this site" in forged.text
        elsewhere = await http.post(
            rate,
            data={"rating": "good", "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        wrong = await http.post(rate, data={"rating": "great", "csrf_token": token})
        assert wrong.status_code == 422
        assert "“great” is not a rating: choose one of Again, Hard, Good, Easy." in wrong.text
        missing = await http.post(rate, data={"csrf_token": token})
        assert missing.status_code == 422 and "invalid value: rating" in missing.text
        unchanged = (await owner.get(f"/api/v1/notebooks/{notebook_id}/cards/{card['id']}")).json()
        assert unchanged["reps"] == 0


async def test_edit_suspend_and_resume_a_card_from_the_review(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await with_cards(api, owner)
        due = await due_cards(owner, notebook_id)
        card = due[0]
        base = f"/notebooks/{notebook_id}/review/cards/{card['id']}"
        form = await http.get(f"{base}/edit")
        assert form.status_code == 200 and 'name="front"' in form.text
        token = csrf_of(form.text)
        empty = await http.post(
            f"{base}/edit", data={"front": "  ", "back": "B", "csrf_token": token}
        )
        assert empty.status_code == 422
        assert "The card&#39;s front is empty: write its question." in empty.text
        long = await http.post(
            f"{base}/edit", data={"front": "Q", "back": "x" * 2001, "csrf_token": token}
        )
        assert long.status_code == 422 and "at most 2000 characters" in long.text
        saved = await http.post(
            f"{base}/edit",
            data={"front": "What fixes carbon?", "back": "The Calvin cycle", "csrf_token": token},
        )
        assert saved.status_code == 303 and saved.headers["location"].endswith("did=edited")
        page = await http.get(saved.headers["location"])
        assert "Saved “What fixes carbon?”." in page.text
        assert shown_card(page.text) == card["id"]  # still due: shown again, edited
        edited = (await owner.get(f"/api/v1/notebooks/{notebook_id}/cards/{card['id']}")).json()
        assert (edited["front"], edited["back"]) == ("What fixes carbon?", "The Calvin cycle")

        suspended = await http.post(f"{base}/suspend", data={"csrf_token": token})
        assert suspended.status_code == 303
        page = await http.get(suspended.headers["location"])
        assert "Suspended “What fixes carbon?”" in page.text
        assert f'action="{base}/resume"' in page.text
        assert "Suspended cards (1)" in page.text and f'id="suspended-{card["id"]}"' in page.text
        assert f"<strong>{len(due) - 1}</strong> card" in page.text
        assert shown_card(page.text) != card["id"]
        state = (await owner.get(f"/api/v1/notebooks/{notebook_id}/cards/{card['id']}")).json()
        assert state["suspended"] is True
        refused = await http.post(f"{base}/rate", data={"rating": "good", "csrf_token": token})
        assert refused.status_code == 422 and "The card is suspended" in refused.text
        resumed = await http.post(f"{base}/resume", data={"csrf_token": token})
        page = await http.get(resumed.headers["location"])
        assert "is back in the reviews, due <time" in page.text
        assert "Suspended cards" not in page.text
        assert f"<strong>{len(due)}</strong> cards" in page.text


async def test_the_exports_are_the_apis_files(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await with_cards(api, owner, "Plant biology")
        page = await http.get(f"/notebooks/{notebook_id}/review")
        assert f'href="/notebooks/{notebook_id}/review/export?format=csv"' in page.text
        csv = await http.get(f"/notebooks/{notebook_id}/review/export?format=csv")
        assert csv.status_code == 200
        assert csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert csv.headers["content-disposition"] == 'attachment; filename="plant-biology.csv"'
        from_api = await owner.get(f"/api/v1/notebooks/{notebook_id}/cards/export?format=csv")
        assert csv.content == from_api.content
        anki = await http.get(f"/notebooks/{notebook_id}/review/export?format=anki")
        assert anki.status_code == 200
        assert anki.headers["content-type"] == "application/octet-stream"
        assert anki.headers["content-disposition"].endswith('.apkg"')
        assert anki.content[:2] == b"PK"  # a zip, as an .apkg is
        wrong = await http.get(f"/notebooks/{notebook_id}/review/export?format=pdf")
        assert wrong.status_code == 422 and "invalid value: format" in wrong.text


async def test_due_counts_of_every_notebook_and_the_empty_states(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        empty = await http.get("/review")
        assert "You have no notebook yet." in empty.text
        notebook_id = await with_cards(api, owner)
        bare = await notebook_of(owner, "Chemistry")
        nothing = await http.get(f"/notebooks/{bare}/review")
        assert "This notebook has no cards to review yet." in nothing.text
        assert "<strong>0</strong> cards due now" in nothing.text
        due = await due_cards(owner, notebook_id)
        listing = await http.get("/review")
        assert f'href="/notebooks/{notebook_id}/review">Biology</a>' in listing.text
        assert f"{len(due)} cards due" in listing.text and "0 cards due" in listing.text
        assert f"<strong>{len(due)}</strong> cards due now in all your notebooks" in listing.text
        for card in due:
            review = f"/api/v1/notebooks/{notebook_id}/cards/{card['id']}/review"
            assert (await owner.post(review, json={"rating": "good"})).status_code == 200
        done = await http.get(f"/notebooks/{notebook_id}/review")
        assert "No card is due now." in done.text
        assert re.search(r"The next one is due <time[^>]*>in (9|10) minutes</time>", done.text)
        assert "Export the cards" in done.text
        for card in due:
            patch = f"/api/v1/notebooks/{notebook_id}/cards/{card['id']}"
            assert (await owner.patch(patch, json={"suspended": True})).status_code == 200
        idle = await http.get(f"/notebooks/{notebook_id}/review")
        assert "Every card of this notebook is suspended." in idle.text
        assert f"Suspended cards ({len(due)})" in idle.text


async def test_another_users_notebook_and_card_are_not_found(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as stranger:
        notebook_id = await with_cards(api, owner)
        card_id = (await due_cards(owner, notebook_id))[0]["id"]
        other = await api.new_user("other")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        token = csrf_of((await stranger.get("/")).text)
        created = await stranger.post("/notebooks", data={"name": "Mine", "csrf_token": token})
        assert created.status_code == 303
        own = (await stranger.get("/")).text.split('href="/notebooks/')[1].split('"')[0]
        for notebook, message in ((notebook_id, "Notebook not found."), (own, "Card not found.")):
            base = f"/notebooks/{notebook}/review"
            for path in (f"/notebooks/{notebook_id}/review", f"{base}/cards/{card_id}/edit"):
                answer = await stranger.get(path)
                assert answer.status_code == 404, path
            for fmt in ("csv", "anki"):
                answer = await stranger.get(f"/notebooks/{notebook_id}/review/export?format={fmt}")
                assert answer.status_code == 404 and "Notebook not found." in answer.text
            for action, data in (
                ("rate", {"rating": "good"}),
                ("edit", {"front": "F", "back": "B"}),
                ("suspend", {}),
                ("resume", {}),
            ):
                path = f"{base}/cards/{card_id}/{action}"
                answer = await stranger.post(path, data={**data, "csrf_token": token})
                assert answer.status_code == 404, path
                assert message in answer.text, path
        # The notice of another user's card says nothing about it.
        page = await stranger.get(f"/notebooks/{own}/review?last={card_id}&did=good")
        assert page.status_code == 200 and "rated" not in page.text
        assert "Bio" not in (await stranger.get("/review")).text
        untouched = (await owner.get(f"/api/v1/notebooks/{notebook_id}/cards/{card_id}")).json()
        assert (untouched["reps"], untouched["suspended"]) == (0, False)


def test_when_a_card_is_due_in_words() -> None:
    now = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    assert due_phrase(now, now) == "now"
    assert due_phrase(now + timedelta(minutes=10), now) == "in 10 minutes"
    assert due_phrase(now + timedelta(seconds=50), now) == "in 1 minute"
    assert due_phrase(now + timedelta(hours=3), now) == "in 3 hours"
    assert due_phrase(now + timedelta(hours=22), now) == "tomorrow"
    early = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert due_phrase(early + timedelta(hours=21), early) == "in 21 hours"  # still today
    assert due_phrase(now + timedelta(days=2), now) == "on 5 December"
    assert due_phrase(now + timedelta(days=40), now) == "on 12 January 2027"
    assert interval_label(timedelta(minutes=1)) == "1 min"
    assert interval_label(timedelta(hours=5)) == "5 h"
    assert interval_label(timedelta(days=3)) == "3 d"
    assert interval_label(timedelta(days=90)) == "3 mo"
    assert interval_label(timedelta(days=800)) == "2.2 y"
