"""Google's Gemini API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learningtool.llm.extras import keyed_chat_model

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.llm.settings import LlmSettings

JSON_MODE: dict[str, Any] = {"response_mime_type": "application/json"}


def build(settings: LlmSettings) -> BaseChatModel:
    return keyed_chat_model(
        settings,
        "gemini",
        "ChatGoogleGenerativeAI",
        max_retries=1,  # 1, not 0: the Google SDK reads 0 as "its default" (5 retries)
        max_output_tokens=settings.max_output_tokens,
    )
