"""FSRS scheduling: exactly py-fsrs's results (fuzz off), JSON round trips, UTC handling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import fsrs
import pytest

from learningtool.study.schedule import (
    DEFAULT_CONFIG,
    SchedulerConfig,
    new_card_state,
    retrievability,
    review,
    schedule_of,
)

START = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
SEQUENCE = ("good", "good", "again", "hard", "easy")


def simulated_dates() -> list[datetime]:
    """Each review a little after the card fell due (the learner is not always on time)."""
    dates, state, moment = [], new_card_state(START, card_id=42).state, START
    for number, rating in enumerate(SEQUENCE):
        dates.append(moment)
        state = review(state, rating, moment).state  # type: ignore[arg-type]
        moment = datetime.fromisoformat(state["due"]) + timedelta(hours=3 * number + 1)
    return dates


def test_review_sequence_matches_the_fsrs_scheduler_exactly() -> None:
    dates = simulated_dates()
    scheduler = fsrs.Scheduler(enable_fuzzing=False)
    card = fsrs.Card(card_id=42, due=START)
    stored = json.dumps(new_card_state(START, card_id=42).state)
    for rating, moment in zip(SEQUENCE, dates, strict=True):
        expected_r = scheduler.get_card_retrievability(card, moment)
        card, log = scheduler.review_card(card, fsrs.Rating[rating.capitalize()], moment)
        result = review(json.loads(stored), rating, moment)  # type: ignore[arg-type]
        assert result.due_at == card.due
        assert result.stability == card.stability
        assert result.difficulty == card.difficulty
        assert result.retrievability_before == expected_r
        assert result.review_log == log.to_dict()
        stored = json.dumps(result.state)  # what the database keeps
        assert fsrs.Card.from_dict(json.loads(stored)).to_dict() == card.to_dict()
    final = json.loads(stored)
    assert final["reps"] == 5 and final["lapses"] == 1  # "again" on a review card
    assert final["state"] == fsrs.State.Review
    later = dates[-1] + timedelta(days=30)
    assert retrievability(final, later) == scheduler.get_card_retrievability(card, later)


def test_new_card_is_due_now_and_unscheduled() -> None:
    schedule = new_card_state(START)
    assert schedule.due_at == START
    assert schedule.stability is None and schedule.difficulty is None
    assert schedule.state["card_id"] == int(START.timestamp() * 1000)
    assert schedule.state["reps"] == 0
    assert retrievability(schedule.state, START) == 0
    assert schedule_of(json.loads(json.dumps(schedule.state))) == schedule


def test_any_aware_timezone_is_converted_and_naive_is_refused() -> None:
    paris = timezone(timedelta(hours=1))
    state = new_card_state(START, card_id=1).state
    in_utc = review(state, "good", START)
    elsewhere = review(state, "good", START.astimezone(paris))
    assert in_utc == elsewhere
    assert in_utc.due_at.tzinfo == UTC
    with pytest.raises(ValueError):
        review(state, "good", START.replace(tzinfo=None))
    with pytest.raises(ValueError):
        new_card_state(datetime(2026, 1, 1))


def test_bad_rating_and_bad_state_are_value_errors() -> None:
    state = new_card_state(START, card_id=1).state
    with pytest.raises(ValueError):
        review(state, "perfect", START)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        review({"card_id": 1}, "good", START)


def test_configuration_changes_the_schedule() -> None:
    assert DEFAULT_CONFIG.enable_fuzzing is False
    assert DEFAULT_CONFIG.desired_retention == 0.9
    lenient = SchedulerConfig(desired_retention=0.8, learning_steps=())
    strict = SchedulerConfig(desired_retention=0.95, learning_steps=())
    state = new_card_state(START, card_id=1).state
    assert (
        review(state, "good", START, config=lenient).due_at
        > review(state, "good", START, config=strict).due_at
    )
    assert SchedulerConfig(enable_fuzzing=True).scheduler().enable_fuzzing
