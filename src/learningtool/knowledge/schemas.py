"""Response models of search and the graph view."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PassageRead(BaseModel):
    """A retrieved chunk: `text == source text[start_char:end_char]`."""

    chunk_id: str
    source_id: str
    source_title: str
    text: str
    start_char: int
    end_char: int
    page: int | None
    slide: int | None
    heading_path: list[str]
    audio_start: float | None
    audio_end: float | None
    score: float = Field(
        description="Fused score: cosine similarity plus weighted BM25 and graph scores; higher"
        " is better."
    )
    ranks: dict[str, int] = Field(description="Rank of the chunk in each method that found it.")


class SearchResults(BaseModel):
    query: str
    mode: str
    passages: list[PassageRead]


class EntityRead(BaseModel):
    name: str
    type: str
    degree: int
    description: str = ""


class RelationRead(BaseModel):
    source: str
    target: str
    weight: float
    description: str = ""


class GraphRead(BaseModel):
    entities: list[EntityRead]
    relations: list[RelationRead]
