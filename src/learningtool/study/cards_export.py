"""Export cards as CSV or as an Anki package (.apkg) that keeps each card's scheduling state.

Both functions are pure apart from a private temporary directory (the .apkg's SQLite file),
synchronous and return bytes: the service runs them in a worker thread or process and streams
the result.

Anki package. genanki 0.13 writes notes and cards but always as new cards (its `Card` has no
scheduling fields), so we let it build the collection, then set each card's row ourselves
before zipping. What we rely on from Anki's schema (rslib `card/mod.rs`, `storage/card/
data.rs`, `import_export/package/apkg/import/cards.rs`):

- `type` 0 new, 1 learning, 2 review, 3 relearning; `queue` 0 new, 1 (re)learning due within
  the day, 2 review, 3 (re)learning due on a later day, -1 suspended;
- `due`: for new cards the position in the new queue; for queue 1 a Unix timestamp in
  seconds; for queue 2 and 3 a day number counted from the collection's creation (`col.crt`).
  On import Anki shifts day numbers by (source collection's today - target's today), so the
  card stays due on the same date (within a day: day boundaries follow each collection's
  rollover hour and time zone);
- `ivl` days (review cards), `factor` ease in permille, `reps`, `lapses`, `left` remaining
  learning steps (`1000 * today + total`);
- `data` JSON `{"s": stability, "d": difficulty 1-10, "dr": desired retention, "decay": ...}`:
  Anki's FSRS memory state, used as is when FSRS is on in Anki;
- `factor` for SM-2 users: the ease that Anki's own SM-2 -> FSRS conversion (fsrs-rs
  `memory_state_from_sm2`, at 90% retention) maps back to our difficulty at this interval:
  ease = 1 + (11 - D) * e^w8 * ivl^-w9 * (e^(0.1 * w10) - 1), clamped to 1.3-5.0;
- `revlog` rows (when the review logs are given): id = review time in ms, ease = button
  1-4, ivl = days (negative: seconds for (re)learning steps), type 0 learn, 1 review,
  2 relearn, factor = Anki's FSRS convention (difficulty scaled to 100-1100). A history that
  starts with a learning review lets Anki recompute the memory state with its own parameters.

Anki only imports this progress when "Import any learning progress" is ticked in its import
dialog (off by default since 23.10); otherwise it resets the cards to new.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import itertools
import json
import math
import sqlite3
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fsrs
import genanki  # type: ignore[import-untyped]

from learningtool.study.offline import BLANK
from learningtool.study.schedule import DEFAULT_CONFIG, SchedulerConfig, load, utc

CSV_COLUMNS = (
    "front",
    "back",
    "source_title",
    "page",
    "slide",
    "time",
    "tags",
    "due",
    "stability",
    "difficulty",
    "reps",
    "lapses",
    "state",
)
_STATE_NAMES = {
    fsrs.State.Learning: "learning",
    fsrs.State.Review: "review",
    fsrs.State.Relearning: "relearning",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_DAY = 86_400
_CSS = """.card { font-family: sans-serif; font-size: 20px; text-align: left; }
.source { margin-top: 1em; font-size: 14px; color: #666; }"""


@dataclass(frozen=True, slots=True)
class ExportCard:
    """One card to export. `state` is the card's scheduling state (`schedule`), None for a
    card never scheduled; `reviews` its review logs, oldest first (optional)."""

    item_id: str
    front: str
    back: str
    source_title: str | None = None
    page: int | None = None
    tags: tuple[str, ...] = ()
    state: Mapping[str, Any] | None = None
    suspended: bool = False
    reviews: tuple[Mapping[str, Any], ...] = ()
    cloze: bool = False  # `front` holds the sentence with `BLANK` where `back` goes
    slide: int | None = None
    seconds: float | None = None  # where the passage starts in a recording


def stable_id(kind: str, notebook_id: str) -> int:
    """A deck or note-type id derived from the notebook, in genanki's advised range
    [2^30, 2^31): re-exporting the notebook updates the same deck in Anki."""
    digest = hashlib.sha256(f"learningtool:{kind}:{notebook_id}".encode()).digest()
    return (1 << 30) + int.from_bytes(digest[:8], "big") % (1 << 30)


def export_csv(cards: Sequence[ExportCard]) -> bytes:
    """UTF-8 CSV, one row per card, header first. Text cells that a spreadsheet would run as
    a formula (starting with = + - @) get a leading apostrophe (OWASP CSV injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for card in cards:
        state = load(card.state) if card.state is not None and _scheduled(card.state) else None
        writer.writerow(
            [
                _cell(card.front),
                _cell(card.back),
                _cell(card.source_title or ""),
                "" if card.page is None else card.page,
                "" if card.slide is None else card.slide,
                "" if card.seconds is None else _clock(card.seconds),
                _cell(" ".join(_tag(tag) for tag in card.tags if _tag(tag))),
                state.due.isoformat() if state else "",
                _number(state.stability) if state else "",
                _number(state.difficulty) if state else "",
                int(card.state.get("reps", 0)) if card.state else 0,
                int(card.state.get("lapses", 0)) if card.state else 0,
                _STATE_NAMES.get(state.state, "new") if state else "new",
            ]
        )
    return buffer.getvalue().encode("utf-8")


def export_apkg(
    cards: Sequence[ExportCard],
    *,
    notebook_id: str,
    deck_name: str,
    now: datetime,
    config: SchedulerConfig = DEFAULT_CONFIG,
) -> bytes:
    """An Anki package of the cards (one deck, one note per card), scheduling included.
    `now` stamps the notes (Anki refuses ids more than a day in the future)."""
    now = utc(now)
    basic, cloze = _basic_model(notebook_id), _cloze_model(notebook_id)
    deck = genanki.Deck(stable_id("deck", notebook_id), deck_name)
    guids = []
    for card in cards:
        guid = genanki.guid_for("learningtool", card.item_id)
        guids.append(guid)
        tags = [_tag(tag) for tag in card.tags if _tag(tag)]
        text = _cloze_text(card) if card.cloze else None
        source = _html(_source(card))
        if text is not None:
            note = genanki.Note(model=cloze, fields=[text, source], tags=tags, guid=guid)
        else:
            fields = [_html(card.front), _html(card.back), source]
            note = genanki.Note(model=basic, fields=fields, tags=tags, guid=guid)
        deck.add_note(note)
    with tempfile.TemporaryDirectory(prefix="learningtool-apkg-") as directory:
        path = Path(directory) / "collection.anki2"
        connection = sqlite3.connect(path)
        try:
            cursor = connection.cursor()
            stamp = now.timestamp()
            genanki.Package(deck).write_to_db(cursor, stamp, itertools.count(int(stamp * 1000)))
            _schedule_cards(cursor, cards, guids, config)
            connection.commit()
        finally:
            connection.close()
        collection = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (("collection.anki2", collection), ("media", b"{}")):
            archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _basic_model(notebook_id: str) -> genanki.Model:
    """Front and back (questions and answers)."""
    return genanki.Model(
        stable_id("model", notebook_id),
        "LearningTool card",
        fields=[{"name": "Front"}, {"name": "Back"}, {"name": "Source"}],
        templates=[
            {
                "name": "Card 1",
                "qfmt": "{{Front}}",
                "afmt": '{{FrontSide}}<hr id="answer">{{Back}}<div class="source">{{Source}}</div>',
            }
        ],
        css=_CSS,
    )


def _cloze_model(notebook_id: str) -> genanki.Model:
    """Anki's Cloze note type (its own fields, Text and Back Extra): Anki shows the blank,
    types it and lets the card be edited as a cloze, which a Basic note with "[...]" in it
    did not."""
    return genanki.Model(
        stable_id("cloze-model", notebook_id),
        "LearningTool cloze",
        fields=[{"name": "Text"}, {"name": "Back Extra"}],
        templates=[
            {
                "name": "Cloze",
                "qfmt": "{{cloze:Text}}",
                "afmt": '{{cloze:Text}}<div class="source">{{Back Extra}}</div>',
            }
        ],
        css=_CSS,
        model_type=genanki.Model.CLOZE,
    )


def _cloze_text(card: ExportCard) -> str | None:
    """The front with its blank as Anki's `{{c1::answer}}`, or None when it has no single
    blank or the answer holds Anki's own cloze markers (exported as a Basic note instead)."""
    before, blank, after = card.front.partition(BLANK)
    if not blank or BLANK in after or not card.back.strip():
        return None
    if "::" in card.back or "}}" in card.back or "{{" in card.back:
        return None
    return f"{_html(before)}{{{{c1::{_html(card.back)}}}}}{_html(after)}"


def _clock(seconds: float) -> str:
    """A position in a recording as H:MM:SS."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def anki_ease(difficulty: float, interval_days: int, config: SchedulerConfig) -> int:
    """The SM-2 ease factor (permille) that Anki's SM-2 -> FSRS conversion maps back to
    `difficulty` at this interval (see the module docstring), clamped to 1300-5000."""
    w = config.parameters
    scale = math.exp(w[8]) * max(interval_days, 1) ** -w[9] * math.expm1(0.1 * w[10])
    ease: int = round(1000 * (1 + (11 - difficulty) * scale))
    return min(max(ease, 1300), 5000)


def _schedule_cards(
    cursor: sqlite3.Cursor,
    cards: Sequence[ExportCard],
    guids: list[str],
    config: SchedulerConfig,
) -> None:
    (crt,) = cursor.execute("SELECT crt FROM col").fetchone()
    rows = cursor.execute("SELECT cards.id, notes.guid FROM cards JOIN notes ON notes.id = nid")
    card_ids = {guid: card_id for card_id, guid in rows.fetchall()}
    taken: set[int] = set()
    for position, (card, guid) in enumerate(zip(cards, guids, strict=True), start=1):
        anki_id = card_ids[guid]
        values = _columns(card, position, crt, config)
        cursor.execute(
            "UPDATE cards SET type = ?, queue = ?, due = ?, ivl = ?, factor = ?, reps = ?,"
            " lapses = ?, left = ?, data = ? WHERE id = ?",
            (*values, anki_id),
        )
        _write_revlog(cursor, anki_id, card.reviews, config, taken)


def _columns(
    card: ExportCard, position: int, crt: int, config: SchedulerConfig
) -> tuple[int, int, int, int, int, int, int, int, str]:
    """(type, queue, due, ivl, factor, reps, lapses, left, data) of one card."""
    if not _scheduled(card.state):
        return 0, -1 if card.suspended else 0, position, 0, 0, 0, 0, 0, ""
    assert card.state is not None
    state = load(card.state)
    assert state.stability is not None and state.difficulty is not None
    assert state.last_review is not None
    reps, lapses = int(card.state.get("reps", 0)), int(card.state.get("lapses", 0))
    data = json.dumps(
        {
            "s": round(state.stability, 3),
            "d": round(state.difficulty, 3),
            "dr": round(config.desired_retention, 2),
            "decay": round(config.parameters[20], 3),
        },
        separators=(",", ":"),
    )
    interval = state.due - state.last_review
    day = (int(state.due.timestamp()) - crt) // _DAY
    if state.state == fsrs.State.Review:
        ivl = max(1, round(interval / timedelta(days=1)))
        factor = anki_ease(state.difficulty, ivl, config)
        queue = -1 if card.suspended else 2
        return 2, queue, day, ivl, factor, reps, lapses, 0, data
    relearning = state.state == fsrs.State.Relearning
    steps = config.relearning_steps if relearning else config.learning_steps
    remaining = max(1, len(steps) - (state.step or 0))
    later_day = interval >= timedelta(days=1)
    queue = -1 if card.suspended else 3 if later_day else 1
    due = day if later_day else int(state.due.timestamp())
    ivl = max(1, round(state.stability)) if relearning else 0
    factor = anki_ease(state.difficulty, ivl, config) if relearning else 0
    card_type = 3 if relearning else 1
    return card_type, queue, due, ivl, factor, reps, lapses, remaining * 1001, data


def _write_revlog(
    cursor: sqlite3.Cursor,
    anki_id: int,
    reviews: Sequence[Mapping[str, Any]],
    config: SchedulerConfig,
    taken: set[int],
) -> None:
    """Replay the review logs from a new card to recover each review's interval."""
    if not reviews:
        return
    scheduler = config.scheduler()
    first = utc(datetime.fromisoformat(reviews[0]["review_datetime"]))
    replay = fsrs.Card(card_id=anki_id, due=first)
    last_ivl = 0
    for log in reviews:
        at = utc(datetime.fromisoformat(log["review_datetime"]))
        kind = {fsrs.State.Learning: 0, fsrs.State.Review: 1}.get(replay.state, 2)
        replay, _ = scheduler.review_card(replay, fsrs.Rating(int(log["rating"])), at)
        gap = replay.due - at
        if replay.state == fsrs.State.Review:
            ivl = max(1, round(gap / timedelta(days=1)))
        else:
            ivl = -int(gap.total_seconds())
        difficulty = replay.difficulty or 1.0
        factor = round(((difficulty - 1) / 9 + 0.1) * 1000)
        revlog_id = int(at.timestamp() * 1000)
        while revlog_id in taken:
            revlog_id += 1
        taken.add(revlog_id)
        duration = min(int(log.get("review_duration") or 0), 60_000)
        cursor.execute(
            "INSERT INTO revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
            " VALUES (?, ?, -1, ?, ?, ?, ?, ?, ?)",
            (revlog_id, anki_id, int(log["rating"]), ivl, last_ivl, factor, duration, kind),
        )
        last_ivl = ivl


def _scheduled(state: Mapping[str, Any] | None) -> bool:
    """A state with a review behind it (a new card's state has no stability yet)."""
    return state is not None and state.get("stability") is not None


def _source(card: ExportCard) -> str:
    """Where the card comes from: the title and the page, slide or time in a recording."""
    where = (
        f"p. {card.page}"
        if card.page is not None
        else f"slide {card.slide}"
        if card.slide is not None
        else _clock(card.seconds)
        if card.seconds is not None
        else ""
    )
    if card.source_title and where:
        return f"{card.source_title}, {where}"
    return card.source_title or ""


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _tag(tag: str) -> str:
    """Anki tags cannot hold spaces."""
    return "_".join(tag.split())


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
