"""The only place that builds chat models: `build_chat_model` (sync, for threads and start-up)
and `create_llm_client` (async, builds in a thread). Building imports the provider package and
loads TLS certificates, so it must never run on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from learningtool.llm import anthropic, gemini, openai_compatible
from learningtool.llm.client import LlmClient
from learningtool.llm.errors import LlmConfigError
from learningtool.llm.settings import LlmSettings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.config import Settings

_BUILDERS: dict[str, Callable[[LlmSettings], BaseChatModel]] = {
    "openai": openai_compatible.build,
    "anthropic": anthropic.build,
    "gemini": gemini.build,
}
_JSON_MODES = MappingProxyType(
    {
        "openai": openai_compatible.JSON_MODE,
        "anthropic": anthropic.JSON_MODE,
        "gemini": gemini.JSON_MODE,
    }
)


def build_chat_model(settings: LlmSettings) -> BaseChatModel | None:
    """The chat model the settings describe, or None for provider "none" (offline engines).

    Sync and not for the event loop: it imports the provider package and its HTTP client
    loads TLS certificates. Call it at start-up before the loop runs, in a thread, or through
    `create_llm_client`. Raises `LlmConfigError` on a missing extra, model or key. Does no
    network I/O.
    """
    if settings.provider == "none":
        return None
    if _on_event_loop():
        raise RuntimeError(
            "build_chat_model imports modules and reads TLS certificates: call it off the "
            "event loop, e.g. `await create_llm_client(settings)`"
        )
    if not settings.model:
        raise LlmConfigError(f"set llm_model to use the {settings.provider!r} LLM provider")
    return _BUILDERS[settings.provider](settings)


def json_mode_kwargs(provider: str) -> dict[str, Any]:
    """Per-call arguments that switch on the provider's JSON mode (no tool calling)."""
    return dict(_JSON_MODES.get(provider, {}))


async def create_llm_client(
    settings: Settings | LlmSettings, *, model: BaseChatModel | None = None
) -> LlmClient | None:
    """An `LlmClient` for the settings, built in a thread; None when the provider is "none"."""
    llm = LlmSettings.of(settings)
    if llm.provider == "none" and model is None:
        return None
    chat = model if model is not None else await asyncio.to_thread(build_chat_model, llm)
    if chat is None:
        return None
    return LlmClient(
        chat,
        timeout=llm.timeout_seconds,
        stream_timeout=llm.stream_timeout_seconds,
        max_retries=llm.max_retries,
        json_mode=json_mode_kwargs(llm.provider) if llm.json_mode else {},
        secret=llm.api_key,
    )


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
