"""Anthropic's API. It has no JSON mode: the prompt and the JSON extraction do the work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learningtool.llm.extras import keyed_chat_model

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.llm.settings import LlmSettings

JSON_MODE: dict[str, Any] = {}
DEFAULT_MAX_TOKENS = 4096  # the API requires a limit


def build(settings: LlmSettings) -> BaseChatModel:
    return keyed_chat_model(
        settings,
        "anthropic",
        "ChatAnthropic",
        max_retries=0,
        max_tokens=settings.max_output_tokens or DEFAULT_MAX_TOKENS,
    )
