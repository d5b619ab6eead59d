"""The ledger: what each of our chunks contributed, the truth LightRAG's data is derived from.

It maps LightRAG's chunk ids (the MD5 of the content) back to ours, and indexes chunks by key
phrase and by source, so reconciliation and scoring read counts here rather than making one
storage call per entity or edge. Saved as `graph/ledger.json`, written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any


@dataclass
class Entry:
    source_id: str
    lr_id: str | None  # LightRAG's chunk id (chunk-<md5 of content>); None for empty text
    phrases: tuple[str, ...]
    seq: int  # insertion order: the first chunk of an entity describes it


@dataclass
class Change:
    """What a write must make LightRAG reflect: chunk contents to (re)write through
    `ainsert_custom_kg`, and the entities, relations and LightRAG chunks it touched."""

    batch: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    lr_ids: set[str] = field(default_factory=set)  # LightRAG chunks that may now be unused

    def merge(self, newer: Change) -> Change:
        return Change(
            batch={**self.batch, **newer.batch},
            touched=self.touched | newer.touched,
            pairs=self.pairs | newer.pairs,
            lr_ids=self.lr_ids | newer.lr_ids,
        )

    def dump(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "touched": sorted(self.touched),
            "pairs": sorted(self.pairs),
            "lr_ids": sorted(self.lr_ids),
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Change:
        return cls(
            batch=dict(data["batch"]),
            touched=set(data["touched"]),
            pairs={(a, b) for a, b in data["pairs"]},
            lr_ids=set(data["lr_ids"]),
        )


@dataclass
class Ledger:
    """Our chunks and their key phrases: the truth LightRAG's data is derived from. `pending`
    is a write-ahead record: the change of a write that has not (yet) completed, saved before
    LightRAG is touched and cleared after its files are flushed; the next write redoes it."""

    chunks: dict[str, Entry] = field(default_factory=dict)
    next_seq: int = 0
    pending: Change | None = None
    by_phrase: dict[str, set[str]] = field(default_factory=dict)
    by_lr: dict[str, set[str]] = field(default_factory=dict)
    by_source: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        ledger = cls()
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            for cid, (source_id, lr_id, phrases, seq) in data["chunks"].items():
                ledger._add(cid, Entry(source_id, lr_id, tuple(phrases), seq))
            ledger.next_seq = data["next_seq"]
            if data.get("pending") is not None:
                ledger.pending = Change.parse(data["pending"])
        return ledger

    def save(self, path: Path) -> None:
        data = {
            "version": 1,
            "next_seq": self.next_seq,
            "pending": self.pending.dump() if self.pending is not None else None,
            "chunks": {
                cid: [e.source_id, e.lr_id, list(e.phrases), e.seq]
                for cid, e in self.chunks.items()
            },
        }
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _add(self, cid: str, entry: Entry) -> None:
        self.chunks[cid] = entry
        for phrase in entry.phrases:
            self.by_phrase.setdefault(phrase, set()).add(cid)
        if entry.lr_id is not None:
            self.by_lr.setdefault(entry.lr_id, set()).add(cid)
        self.by_source.setdefault(entry.source_id, set()).add(cid)

    def remove(self, cid: str) -> Entry | None:
        entry = self.chunks.pop(cid, None)
        if entry is None:
            return None
        for phrase in entry.phrases:
            _discard(self.by_phrase, phrase, cid)
        if entry.lr_id is not None:
            _discard(self.by_lr, entry.lr_id, cid)
        _discard(self.by_source, entry.source_id, cid)
        return entry

    def put(self, cid: str, source_id: str, lr_id: str | None, phrases: tuple[str, ...]) -> None:
        old = self.remove(cid)
        seq = old.seq if old is not None else self.next_seq
        self.next_seq = max(self.next_seq, seq + 1)
        self._add(cid, Entry(source_id, lr_id, phrases, seq))

    def cooccurring(self, a: str, b: str) -> set[str]:
        return self.by_phrase.get(a, set()) & self.by_phrase.get(b, set())

    def first(self, cids: Iterable[str]) -> str:
        return min(cids, key=lambda c: (self.chunks[c].seq, c))

    def lr_ids(self, cids: Iterable[str]) -> list[str]:
        return sorted({lr for c in cids if (lr := self.chunks[c].lr_id) is not None})

    def sources(self, cids: Iterable[str]) -> list[str]:
        return sorted({self.chunks[c].source_id for c in cids})


def _discard(index: dict[str, set[str]], key: str, cid: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(cid)
        if not members:
            del index[key]


def pairs(phrases: Iterable[str]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in combinations(sorted(set(phrases)), 2)}
