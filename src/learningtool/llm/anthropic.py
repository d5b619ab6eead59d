"""Anthropic's API. It has no JSON mode: the prompt and the JSON extraction do the work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learningtool.llm.errors import LlmConfigError
from learningtool.llm.extras import import_provider

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.llm.settings import LlmSettings

JSON_MODE: dict[str, Any] = {}
DEFAULT_MAX_TOKENS = 4096  # the API requires a limit


def build(settings: LlmSettings) -> BaseChatModel:
    module = import_provider("anthropic")
    if not settings.api_key:
        raise LlmConfigError("set llm_api_key to use the 'anthropic' LLM provider")
    chat: BaseChatModel = module.ChatAnthropic(
        model=settings.model,
        api_key=settings.api_key,
        timeout=settings.sdk_timeout,
        max_retries=0,
        temperature=settings.temperature,
        max_tokens=settings.max_output_tokens or DEFAULT_MAX_TOKENS,
        **({"base_url": settings.base_url} if settings.base_url else {}),
    )
    return chat
