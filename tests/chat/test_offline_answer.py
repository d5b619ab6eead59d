"""The offline answer and its claim check with the packaged embedding model: real wording,
paraphrased questions, questions the notebook cannot answer, quotes that do not answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from learningtool.chat import answer, claims
from learningtool.cpu import CpuPool
from learningtool.knowledge.embed import LocalEmbedder, local_available
from learningtool.knowledge.search import Passage

pytestmark = pytest.mark.skipif(
    not local_available(), reason="local embedding model not installed (the `embed` extra)"
)

# Hard-wrapped as the licence file is: sentences run across line breaks.
TERMINATION = """You may not propagate or modify a covered work except as expressly
provided under this License.  Any attempt otherwise to propagate or
modify it is void, and will automatically terminate your rights under
this License.

However, if you cease all violation of this License, then your
license from a particular copyright holder is reinstated (a)
provisionally, unless and until the copyright holder explicitly and
finally terminates your license, and (b) permanently, if the copyright
holder fails to notify you of the violation by some reasonable means
prior to 60 days after the cessation."""
CLOSE = """Git maintains a snapshot of the tree's contents in a special staging
area called "the index."  The index is updated with git add.  A commit
records the contents of the index as a new version of the project."""
BREAD = """Knead the dough for ten minutes until it is smooth and elastic.
Leave it to rise in a warm place until it has doubled in size."""
EVIDENCE = "then your\nlicense from a particular copyright holder is reinstated"


def passage(number: int, title: str, text: str) -> Passage:
    return Passage(
        chunk_id=f"c{number}",
        source_id=f"s{number}",
        source_title=title,
        text=text,
        start_char=1000 * number,
        end_char=1000 * number + len(text),
        page=None,
        slide=None,
        heading_path=[],
        audio_start=None,
        audio_end=None,
        score=0.0,
    )


PASSAGES = [
    passage(1, "Baking notes", BREAD),
    passage(2, "GPL-3.txt", TERMINATION),
    passage(3, "Git user manual", CLOSE),
]


@pytest.fixture
async def embedder() -> AsyncIterator[LocalEmbedder]:
    pool = CpuPool(1)
    try:
        yield LocalEmbedder(pool)
    finally:
        await pool.close()


async def test_a_paraphrased_question_is_answered_with_the_sentence_that_answers_it(
    embedder: LocalEmbedder,
) -> None:
    question = "If I stop breaking the licence terms, do I get my permission back?"
    draft = await answer.offline_answer(question, PASSAGES, embedder)

    assert draft.text != answer.NO_ANSWER
    first = draft.quotes[0]
    assert first.passage == 2 and EVIDENCE in first.text
    # The quote is the whole sentence, across the hard line breaks, and its span is exact.
    assert first.text.startswith("However, if you cease") and first.text.endswith("cessation.")
    offset = PASSAGES[1].start_char
    assert TERMINATION[first.start_char - offset : first.end_char - offset] == first.text
    assert "[2]" in draft.text and "Knead" not in draft.text


async def test_a_question_the_notebook_does_not_cover_is_declined(
    embedder: LocalEmbedder,
) -> None:
    draft = await answer.offline_answer(
        "Which court first ruled that the GPL can be enforced?", PASSAGES, embedder
    )
    assert draft.text == answer.NO_ANSWER and not draft.quotes


@dataclass
class Quote:
    passage: int
    text: str


async def test_the_claim_check_flags_a_quote_that_does_not_answer_the_question(
    embedder: LocalEmbedder,
) -> None:
    texts = {n: p.text for n, p in enumerate(PASSAGES, start=1)}
    question = "What does git add update?"
    on_topic = Quote(3, "The index is updated with git add.")
    unrelated = Quote(1, "Knead the dough for ten minutes until it is smooth and elastic.")
    not_in_passage = Quote(3, "The index is updated with git commit.")

    verdicts = await claims.check_quotes(
        question, [on_topic, unrelated, not_in_passage], texts, embedder
    )

    assert [v.supported for v in verdicts] == [True, False, False]
    assert all(v.judged_by == "relevance" for v in verdicts)
    assert verdicts[0].support > verdicts[1].support
