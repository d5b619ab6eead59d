"""Ollama's `POST {base_url}/api/embed`."""

from __future__ import annotations

from typing import Any

from learningtool.knowledge.embed.local import DEFAULT_BATCH_SIZE
from learningtool.knowledge.embed.remote import HttpEmbedder

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


class OllamaEmbedder(HttpEmbedder):
    """Ollama's `/api/embed` (Ollama 0.3.4 and later)."""

    provider = "ollama"

    def __init__(
        self,
        base_url: str = DEFAULT_OLLAMA_URL,
        model: str = "nomic-embed-text",
        dim: int | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = 120.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            dim=dim,
            headers=None,
            batch_size=batch_size,
            timeout_seconds=timeout_seconds,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        return f"{self.base_url}/api/embed", {"model": self.model, "input": texts}

    def _vectors(self, body: Any) -> list[Any]:
        return list(body["embeddings"])
