"""Google's Gemini API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learningtool.llm.errors import LlmConfigError
from learningtool.llm.extras import import_provider

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.llm.settings import LlmSettings

JSON_MODE: dict[str, Any] = {"response_mime_type": "application/json"}


def build(settings: LlmSettings) -> BaseChatModel:
    module = import_provider("gemini")
    if not settings.api_key:
        raise LlmConfigError("set llm_api_key to use the 'gemini' LLM provider")
    chat: BaseChatModel = module.ChatGoogleGenerativeAI(
        model=settings.model,
        api_key=settings.api_key,
        timeout=settings.sdk_timeout,
        max_retries=1,  # 1, not 0: the Google SDK reads 0 as "its default" (5 retries)
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
        **({"base_url": settings.base_url} if settings.base_url else {}),
    )
    return chat
