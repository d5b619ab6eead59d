"""Any OpenAI-compatible endpoint: OpenAI itself, Ollama's /v1, vLLM, llama.cpp server,
OpenRouter. A local server needs no key, so a base URL alone is enough."""

from __future__ import annotations

import contextlib
import platform
from typing import TYPE_CHECKING, Any

from learningtool.llm.errors import LlmConfigError
from learningtool.llm.extras import import_provider

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.llm.settings import LlmSettings

DEFAULT_BASE_URL = "https://api.openai.com/v1"
JSON_MODE: dict[str, Any] = {"response_format": {"type": "json_object"}}


def build(settings: LlmSettings) -> BaseChatModel:
    module = import_provider("openai")
    if not settings.api_key and not settings.base_url:
        raise LlmConfigError(
            "set llm_api_key (or llm_base_url for a local OpenAI-compatible server)"
        )
    chat: BaseChatModel = module.ChatOpenAI(
        model=settings.model,
        # Explicit URL and key: OPENAI_* environment variables must not redirect calls.
        base_url=settings.base_url or DEFAULT_BASE_URL,
        api_key=settings.api_key or "not-needed",
        timeout=settings.sdk_timeout,
        max_retries=0,
        temperature=settings.temperature,
        max_tokens=settings.max_output_tokens,
        stream_usage=True,
    )
    _warm_platform_info()
    return chat


def _warm_platform_info() -> None:
    """The openai SDK reads /etc/os-release on its first request to build its headers; read it
    now (off the loop) so that request does not do file I/O on the loop. The stdlib caches it."""
    with contextlib.suppress(OSError):
        platform.freedesktop_os_release()
