"""A report's citations quote the sentence the report used, not the first one of the
passage, and never a reference-list line when the report's sentence says nothing."""

from __future__ import annotations

from learningtool.research.agent.report import finalize
from learningtool.research.agent.state import Evidence

PASSAGE = (
    "Photosynthesis happens in the chloroplasts of plant cells. The Calvin cycle fixes "
    "carbon dioxide into sugars in the stroma. Mitochondria release energy by respiration."
)


def evidence(text: str, start: int = 500) -> Evidence:
    return Evidence(
        key="passage:c1",
        kind="passage",
        title="Biology notes",
        text=text,
        rank=1,
        query="q",
        loop=0,
        chunk_id="c1",
        source_id="s1",
        start_char=start,
        end_char=start + len(text),
        page=None,
        url=None,
        snippet=None,
    )


def test_each_citing_sentence_gets_the_sentence_it_used() -> None:
    body = (
        "Carbon dioxide becomes sugar in the stroma through the Calvin cycle. [4] "
        "Cells release energy in their mitochondria. [4]"
    )
    report = finalize(body, {4: evidence(PASSAGE)})

    [citation] = report.citations
    assert citation["n"] == 1 and "[1]" in report.markdown
    texts = [q["text"] for q in citation["quotes"]]
    assert texts == [
        "The Calvin cycle fixes carbon dioxide into sugars in the stroma.",
        "Mitochondria release energy by respiration.",
    ]
    assert citation["quote"] == texts[0]
    for quote in citation["quotes"]:
        offset = quote["start_char"] - 500
        assert PASSAGE[offset : offset + len(quote["text"])] == quote["text"]
    assert citation["quote_start_char"] == citation["quotes"][0]["start_char"]


def test_a_reference_line_is_not_quoted_for_a_sentence_that_shares_nothing() -> None:
    text = "YouTube.\n\nThe lecture series explains how vaccines train the immune system."
    report = finalize("A video course covers this topic. [1]", {1: evidence(text)})
    assert report.citations[0]["quote"].startswith("The lecture series")
