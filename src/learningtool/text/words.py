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


# A name as written: mixed case ("GitHub", "RStudio"), letters with digits ("ggplot2"),
# capitals ("SQL", "LFS"), or a capitalised word after the first ("Excel"). Versions
# ("v2", "3.11") are numbers, not names.
_NAME = re.compile(r"\b(?:[A-Z][a-z]+[A-Z]\w*|[A-Za-z]+\d\w*|[A-Z]{2,}\w*|[A-Z][a-z]{2,})\b")
_VERSION = re.compile(r"[vV]?\d+(?:\.\d+)*")


def names(question: str) -> list[str]:
    """The names a question uses, in order, without repeats; its first word is skipped
    (every sentence opens with a capital)."""
    words = question.split(maxsplit=1)
    rest = words[1] if len(words) > 1 else ""
    found = [m.group() for m in _NAME.finditer(rest) if not _VERSION.fullmatch(m.group())]
    return list(dict.fromkeys(found))
