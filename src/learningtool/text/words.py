"""Content words: the words of a text that carry its meaning, crudely stemmed so that
"fixes" and "fixed" meet. Used where wording is compared (claim support, relevance)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
STOP = frozenset(
    "a an the and or but of in on at to for from by with as is are was were be been being "
    "it its this that these those there their they them he she his her we you i not no "
    "do does did has have had can could may might will would should which who whom what "
    "when where why how than then so such also into about over under between".split()
)


def stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text) if w.lower() not in STOP and len(w) > 1}
