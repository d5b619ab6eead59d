"""Card export: the CSV parses back; the .apkg is a real Anki collection whose cards keep
their scheduling state (new stays new, reviewed cards carry interval, due day, ease, reps)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from learningtool.study.cards_export import (
    CSV_COLUMNS,
    ExportCard,
    anki_ease,
    export_apkg,
    export_csv,
    stable_id,
)
from learningtool.study.schedule import DEFAULT_CONFIG, new_card_state, review

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def reviewed(*ratings: str) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """State and review logs after reviewing a new card with `ratings`, each at its due."""
    state, logs, moment = new_card_state(START, card_id=9).state, [], START
    for rating in ratings:
        result = review(state, rating, moment)  # type: ignore[arg-type]
        state, moment = result.state, result.due_at
        logs.append(result.review_log)
    return state, tuple(logs)


@pytest.fixture
def cards() -> list[ExportCard]:
    review_state, review_logs = reviewed("good", "good", "good")
    learning_state, _ = reviewed("good")
    relearning_state, _ = reviewed("good", "good", "again")
    return [
        ExportCard("new", "The [...] is a bilayer.", "cell membrane", "Biology", 3, ("bio",)),
        ExportCard(
            "review",
            "[...] is the process <by> which plants make sugar.",
            "Photosynthesis",
            "Biology",
            1,
            ("bio", "chapter one"),
            review_state,
            reviews=review_logs,
        ),
        ExportCard("learning", "Front L", "Back L", state=learning_state),
        ExportCard("relearning", "Front R", "Back R", state=relearning_state),
        ExportCard("suspended", "Front S", "=1+1", state=review_state, suspended=True),
    ]


@pytest.fixture
def collection(cards: list[ExportCard], tmp_path: Path) -> Iterator[sqlite3.Connection]:
    package = export_apkg(cards, notebook_id="nb-1", deck_name="LearningTool::Bio", now=NOW)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert sorted(archive.namelist()) == ["collection.anki2", "media"]
        assert json.loads(archive.read("media")) == {}
        (tmp_path / "collection.anki2").write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(tmp_path / "collection.anki2")
    yield connection
    connection.close()


def rows(connection: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Card rows by the note's first field's first word (our fronts are distinct)."""
    query = (
        "SELECT notes.flds, cards.type, cards.queue, cards.due, cards.ivl, cards.factor,"
        " cards.reps, cards.lapses, cards.left, cards.data, cards.id FROM cards"
        " JOIN notes ON notes.id = cards.nid"
    )
    names = ("type", "queue", "due", "ivl", "factor", "reps", "lapses", "left", "data", "id")
    return {
        flds.split("\x1f")[1]: dict(zip(names, values, strict=True))
        for flds, *values in connection.execute(query)
    }


def test_csv_parses_back(cards: list[ExportCard]) -> None:
    parsed = list(csv.DictReader(io.StringIO(export_csv(cards).decode("utf-8"))))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert [row["back"] for row in parsed] == [
        "cell membrane",
        "Photosynthesis",
        "Back L",
        "Back R",
        "'=1+1",  # neutralised: a spreadsheet would run it as a formula
    ]
    new, done = parsed[0], parsed[1]
    assert new["state"] == "new" and new["due"] == "" and new["reps"] == "0"
    assert new["source_title"] == "Biology" and new["page"] == "3" and new["tags"] == "bio"
    assert done["state"] == "review" and done["reps"] == "3" and done["tags"] == "bio chapter_one"
    assert datetime.fromisoformat(done["due"]) == datetime.fromisoformat(cards[1].state["due"])  # type: ignore[index]
    assert float(done["stability"]) == pytest.approx(cards[1].state["stability"], abs=1e-4)  # type: ignore[index]


def test_apkg_cards_keep_their_scheduling_state(
    cards: list[ExportCard], collection: sqlite3.Connection
) -> None:
    (crt,) = collection.execute("SELECT crt FROM col").fetchone()
    by_back = rows(collection)

    new = by_back["cell membrane"]
    assert (new["type"], new["queue"], new["due"], new["ivl"], new["reps"]) == (0, 0, 1, 0, 0)
    assert new["data"] == ""

    state = cards[1].state
    assert state is not None
    due = datetime.fromisoformat(state["due"])
    last = datetime.fromisoformat(state["last_review"])
    done = by_back["Photosynthesis"]
    assert (done["type"], done["queue"]) == (2, 2)
    assert done["ivl"] == round((due - last) / timedelta(days=1)) >= 1
    assert done["due"] == (int(due.timestamp()) - crt) // 86400  # days since creation
    assert done["reps"] == 3 and done["lapses"] == 0 and done["left"] == 0
    assert done["factor"] == anki_ease(state["difficulty"], done["ivl"], DEFAULT_CONFIG)
    assert 1300 <= done["factor"] <= 5000
    memory = json.loads(done["data"])
    assert memory["s"] == round(state["stability"], 3)
    assert memory["d"] == round(state["difficulty"], 3) and memory["dr"] == 0.9

    learning = by_back["Back L"]
    assert (learning["type"], learning["queue"], learning["ivl"]) == (1, 1, 0)
    learning_due = datetime.fromisoformat(cards[2].state["due"])  # type: ignore[index]
    assert learning["due"] == int(learning_due.timestamp())  # a Unix timestamp
    assert learning["left"] % 1000 == 1  # one learning step left

    relearning = by_back["Back R"]
    assert (relearning["type"], relearning["queue"], relearning["lapses"]) == (3, 1, 1)
    assert relearning["ivl"] >= 1

    suspended = by_back["=1+1"]
    assert (suspended["type"], suspended["queue"]) == (2, -1)


def test_apkg_review_history_goes_to_the_revlog(collection: sqlite3.Connection) -> None:
    card_id = rows(collection)["Photosynthesis"]["id"]
    revlog = collection.execute(
        "SELECT ease, ivl, lastIvl, type FROM revlog WHERE cid = ? ORDER BY id", (card_id,)
    ).fetchall()
    assert [entry[0] for entry in revlog] == [3, 3, 3]  # "good" three times
    assert revlog[0][3] == 0  # starts with a learning review: a complete history
    assert revlog[0][1] < 0  # a learning step, in seconds
    assert revlog[-1][1] == rows(collection)["Photosynthesis"]["ivl"]
    assert revlog[-1][2] == revlog[-2][1]
    assert collection.execute("SELECT count(*) FROM revlog").fetchone() == (3,)


def test_apkg_notes_deck_and_ids(collection: sqlite3.Connection) -> None:
    decks = json.loads(collection.execute("SELECT decks FROM col").fetchone()[0])
    deck = decks[str(stable_id("deck", "nb-1"))]
    assert deck["name"] == "LearningTool::Bio"
    models = json.loads(collection.execute("SELECT models FROM col").fetchone()[0])
    assert str(stable_id("model", "nb-1")) in models
    fields = [row[0].split("\x1f") for row in collection.execute("SELECT flds FROM notes")]
    photosynthesis = next(f for f in fields if f[1] == "Photosynthesis")
    assert photosynthesis[0] == "[...] is the process &lt;by&gt; which plants make sugar."
    assert photosynthesis[2] == "Biology, p. 1"
    tags = {row[0] for row in collection.execute("SELECT tags FROM notes")}
    assert " bio chapter_one " in tags
    note_ids = [row[0] for row in collection.execute("SELECT id FROM notes")]
    assert max(note_ids) <= (NOW + timedelta(days=1)).timestamp() * 1000  # Anki's id check


def test_apkg_is_deterministic_and_ids_follow_the_notebook(cards: list[ExportCard]) -> None:
    one = export_apkg(cards, notebook_id="nb-1", deck_name="D", now=NOW)
    assert one == export_apkg(cards, notebook_id="nb-1", deck_name="D", now=NOW)
    assert stable_id("deck", "nb-1") == stable_id("deck", "nb-1")
    assert stable_id("deck", "nb-1") != stable_id("deck", "nb-2")
    assert stable_id("deck", "nb-1") != stable_id("model", "nb-1")
    assert 1 << 30 <= stable_id("deck", "nb-1") < 1 << 31


def test_empty_export() -> None:
    assert export_csv([]).decode().strip() == ",".join(CSV_COLUMNS)
    with zipfile.ZipFile(io.BytesIO(export_apkg([], notebook_id="x", deck_name="D", now=NOW))):
        pass


def test_cloze_cards_become_anki_cloze_notes_and_keep_their_schedule(tmp_path: Path) -> None:
    state, _ = reviewed("good", "good", "good")
    cards = [
        ExportCard("c1", "The [...] is a <bilayer>.", "cell membrane", "Bio", 2, cloze=True),
        ExportCard("c2", "[...] fixes carbon.", "Calvin cycle", "Bio", state=state, cloze=True),
        ExportCard("odd", "No blank here.", "x", cloze=True),  # no blank: a Basic note
        ExportCard("qa", "What is ATP?", "The energy currency", "Bio"),
    ]
    package = export_apkg(cards, notebook_id="nb-1", deck_name="D", now=NOW)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        (tmp_path / "c.anki2").write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(tmp_path / "c.anki2")
    try:
        models = json.loads(connection.execute("SELECT models FROM col").fetchone()[0])
        cloze_model = models[str(stable_id("cloze-model", "nb-1"))]
        assert cloze_model["type"] == 1  # Anki's Cloze note type
        notes = {
            flds.split("\x1f")[0]: str(mid)
            for flds, mid in connection.execute("SELECT flds, mid FROM notes")
        }
        cloze_texts = [text for text, mid in notes.items() if mid == str(cloze_model["id"])]
        assert sorted(cloze_texts) == [
            "The {{c1::cell membrane}} is a &lt;bilayer&gt;.",
            "{{c1::Calvin cycle}} fixes carbon.",
        ]
        assert notes["No blank here."] == notes["What is ATP?"] == str(stable_id("model", "nb-1"))
        scheduled = connection.execute(
            "SELECT cards.type, cards.ivl FROM cards JOIN notes ON notes.id = cards.nid"
            " WHERE notes.flds LIKE '{{c1::Calvin%'"
        ).fetchall()
        assert len(scheduled) == 1 and scheduled[0][0] == 2 and scheduled[0][1] >= 1  # review
        extra = connection.execute(
            "SELECT flds FROM notes WHERE flds LIKE 'The {{c1::%'"
        ).fetchone()[0]
        assert extra.split("\x1f")[1] == "Bio, p. 2"
    finally:
        connection.close()


def test_csv_says_where_in_the_source_each_card_is() -> None:
    cards = [
        ExportCard("p", "F", "B", "Paper", 4),
        ExportCard("s", "F", "B", "Deck", slide=7),
        ExportCard("t", "F", "B", "Talk", seconds=3725.4),
    ]
    parsed = list(csv.DictReader(io.StringIO(export_csv(cards).decode("utf-8"))))
    assert [(r["page"], r["slide"], r["time"]) for r in parsed] == [
        ("4", "", ""),
        ("", "7", ""),
        ("", "", "1:02:05"),
    ]
