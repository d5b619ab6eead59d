"""FSRS-6 spaced-repetition scheduling, as pure functions over a JSON-ready state.

The `fsrs` package (py-fsrs, the reference implementation of FSRS-6) does the maths; this
module pins how we use it:

- State is stored as JSON: `fsrs.Card.to_dict()` plus two counters FSRS-6 cards no longer
  keep, `reps` and `lapses` (the Anki export needs them). `Card.from_dict` reads only its own
  keys, so the extra ones ride along safely.
- Datetimes are timezone-aware; any zone is accepted and converted to UTC (the package only
  accepts `timezone.utc` itself). A naive datetime is rejected: it is ambiguous.
- The clock is an argument (`now`), never read here, and the card id is given or derived from
  `now`: py-fsrs would otherwise read the clock and sleep 1 ms to make one up.
- Defaults are py-fsrs's own (FSRS-6 default parameters, desired retention 0.9, learning
  steps 1 and 10 minutes, relearning step 10 minutes, maximum interval 36,500 days) except
  fuzz, which is OFF: fuzz spreads review dates randomly; with it off the same reviews always
  give the same schedule, which tests, exports and re-computation rely on. All configurable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, NamedTuple, cast

import fsrs
from fsrs.card import CardDict
from fsrs.scheduler import DEFAULT_PARAMETERS

RatingName = Literal["again", "hard", "good", "easy"]
RATINGS: dict[str, fsrs.Rating] = {
    "again": fsrs.Rating.Again,
    "hard": fsrs.Rating.Hard,
    "good": fsrs.Rating.Good,
    "easy": fsrs.Rating.Easy,
}
_CARD_KEYS = ("card_id", "state", "step", "stability", "difficulty", "due", "last_review")


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """FSRS scheduler settings (hashable, so one `fsrs.Scheduler` is built per config)."""

    parameters: tuple[float, ...] = tuple(DEFAULT_PARAMETERS)
    desired_retention: float = 0.9
    learning_steps: tuple[timedelta, ...] = (timedelta(minutes=1), timedelta(minutes=10))
    relearning_steps: tuple[timedelta, ...] = (timedelta(minutes=10),)
    maximum_interval: int = 36_500
    enable_fuzzing: bool = False

    def scheduler(self) -> fsrs.Scheduler:
        return _scheduler(self)


DEFAULT_CONFIG = SchedulerConfig()


class CardSchedule(NamedTuple):
    """A card's scheduling state and the columns derived from it."""

    state: dict[str, Any]
    due_at: datetime
    stability: float | None
    difficulty: float | None


class ReviewResult(NamedTuple):
    state: dict[str, Any]
    due_at: datetime
    stability: float | None
    difficulty: float | None
    retrievability_before: float  # predicted recall probability just before this review
    review_log: dict[str, Any]  # fsrs.ReviewLog.to_dict(): card_id, rating, review_datetime


@lru_cache(maxsize=32)
def _scheduler(config: SchedulerConfig) -> fsrs.Scheduler:
    return fsrs.Scheduler(
        parameters=config.parameters,
        desired_retention=config.desired_retention,
        learning_steps=config.learning_steps,
        relearning_steps=config.relearning_steps,
        maximum_interval=config.maximum_interval,
        enable_fuzzing=config.enable_fuzzing,
    )


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is an error, not a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC)


def new_card_state(now: datetime, *, card_id: int | None = None) -> CardSchedule:
    """A new card, due immediately. `card_id` defaults to `now` in epoch milliseconds."""
    now = utc(now)
    card = fsrs.Card(card_id=_default_id(now) if card_id is None else card_id, due=now)
    return CardSchedule(_dump(card, reps=0, lapses=0), now, None, None)


def review(
    state: Mapping[str, Any],
    rating: RatingName,
    now: datetime,
    *,
    config: SchedulerConfig = DEFAULT_CONFIG,
    review_duration_ms: int | None = None,
) -> ReviewResult:
    """The card after being reviewed at `now` with `rating`."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {', '.join(RATINGS)}")
    now = utc(now)
    card = load(state)
    scheduler = config.scheduler()
    before = float(scheduler.get_card_retrievability(card, now))
    updated, log = scheduler.review_card(card, RATINGS[rating], now, review_duration_ms)
    lapsed = card.state == fsrs.State.Review and rating == "again"
    new_state = _dump(
        updated,
        reps=int(state.get("reps", 0)) + 1,
        lapses=int(state.get("lapses", 0)) + int(lapsed),
    )
    return ReviewResult(
        new_state, updated.due, updated.stability, updated.difficulty, before, dict(log.to_dict())
    )


def retrievability(
    state: Mapping[str, Any], now: datetime, *, config: SchedulerConfig = DEFAULT_CONFIG
) -> float:
    """Predicted probability of recalling the card at `now` (0 for a card never reviewed)."""
    return float(config.scheduler().get_card_retrievability(load(state), utc(now)))


def load(state: Mapping[str, Any]) -> fsrs.Card:
    """The `fsrs.Card` of a stored state (raises ValueError on a malformed one)."""
    try:
        card = fsrs.Card.from_dict(cast(CardDict, {key: state[key] for key in _CARD_KEYS}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a card state: {exc}") from exc
    card.due = utc(card.due)
    card.last_review = utc(card.last_review) if card.last_review else None
    return card


def schedule_of(state: Mapping[str, Any]) -> CardSchedule:
    """The derived columns of a stored state."""
    card = load(state)
    return CardSchedule(dict(state), card.due, card.stability, card.difficulty)


def _dump(card: fsrs.Card, *, reps: int, lapses: int) -> dict[str, Any]:
    return {**card.to_dict(), "reps": reps, "lapses": lapses}


def _default_id(now: datetime) -> int:
    return int(now.timestamp() * 1000)
