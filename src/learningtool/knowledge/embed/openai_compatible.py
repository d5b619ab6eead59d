"""Any OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, vLLM, the llama.cpp server,
LM Studio; `base_url` as for the OpenAI SDK, with its `/v1`)."""

from __future__ import annotations

from typing import Any, Unpack

from learningtool.knowledge.embed.remote import HttpEmbedder, HttpOptions

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"


class OpenAIEmbedder(HttpEmbedder):
    """An OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, llama.cpp, LM Studio)."""

    provider = "openai"
    default_timeout_seconds = 60.0

    def __init__(
        self,
        base_url: str = DEFAULT_OPENAI_URL,
        api_key: str | None = None,
        model: str = DEFAULT_OPENAI_MODEL,
        dim: int | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        super().__init__(base_url=base_url, model=model, dim=dim, headers=headers, **options)

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        payload = {"model": self.model, "input": texts, "encoding_format": "float"}
        return f"{self.base_url}/embeddings", payload

    def _vectors(self, body: Any) -> list[Any]:
        data = sorted(body["data"], key=lambda item: int(item.get("index", 0)))
        return [item["embedding"] for item in data]
