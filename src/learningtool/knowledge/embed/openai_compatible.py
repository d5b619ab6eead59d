"""Any OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, vLLM, the llama.cpp server,
LM Studio; `base_url` as for the OpenAI SDK, with its `/v1`)."""

from __future__ import annotations

from typing import Any

from learningtool.knowledge.embed.local import DEFAULT_BATCH_SIZE
from learningtool.knowledge.embed.remote import HttpEmbedder

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class OpenAIEmbedder(HttpEmbedder):
    """An OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, llama.cpp, LM Studio)."""

    provider = "openai"

    def __init__(
        self,
        base_url: str = DEFAULT_OPENAI_URL,
        api_key: str | None = None,
        model: str = "text-embedding-3-small",
        dim: int | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = 60.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            dim=dim,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            batch_size=batch_size,
            timeout_seconds=timeout_seconds,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        payload = {"model": self.model, "input": texts, "encoding_format": "float"}
        return f"{self.base_url}/embeddings", payload

    def _vectors(self, body: Any) -> list[Any]:
        data = sorted(body["data"], key=lambda item: int(item.get("index", 0)))
        return [item["embedding"] for item in data]
