"""Ollama's `POST {base_url}/api/embed`."""

from __future__ import annotations

from typing import Any, Unpack

from learningtool.knowledge.embed.remote import HttpEmbedder, HttpOptions

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "nomic-embed-text"


class OllamaEmbedder(HttpEmbedder):
    """Ollama's `/api/embed` (Ollama 0.3.4 and later)."""

    provider = "ollama"
    default_timeout_seconds = 120.0

    def __init__(
        self,
        base_url: str = DEFAULT_OLLAMA_URL,
        model: str = DEFAULT_OLLAMA_MODEL,
        dim: int | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(base_url=base_url, model=model, dim=dim, **options)

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        return f"{self.base_url}/api/embed", {"model": self.model, "input": texts}

    def _vectors(self, body: Any) -> list[Any]:
        return list(body["embeddings"])
