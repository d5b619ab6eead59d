"""Which package each provider needs, imported only when that provider is built: importing
`learningtool.llm` must not pull in any provider SDK (they are optional extras, and importing
one reads files, which must not happen on the event loop)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from learningtool.llm.errors import LlmConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from learningtool.llm.settings import LlmSettings

# provider -> (module, `learningtool[...]` extra, pip package)
PROVIDER_EXTRAS = {
    "openai": ("langchain_openai", "llm-openai", "langchain-openai"),
    "anthropic": ("langchain_anthropic", "llm-anthropic", "langchain-anthropic"),
    "gemini": ("langchain_google_genai", "llm-gemini", "langchain-google-genai"),
}


def import_provider(provider: str) -> ModuleType:
    """The provider's LangChain module, or `LlmConfigError` naming the extra to install."""
    module, extra, package = PROVIDER_EXTRAS[provider]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LlmConfigError(
            f"the {provider!r} LLM provider needs the {package!r} package: "
            f"pip install 'learningtool[{extra}]'"
        ) from None


def keyed_chat_model(
    settings: LlmSettings, provider: str, class_name: str, **options: Any
) -> BaseChatModel:
    """The chat model of a provider that needs `llm_api_key` (Anthropic, Gemini), built with
    what every such SDK takes alike (model, key, timeout, temperature, a base URL only when
    one is set); `options` are the provider's own (its retries, its output-limit name)."""
    module = import_provider(provider)
    if not settings.api_key:
        raise LlmConfigError(f"set llm_api_key to use the {provider!r} LLM provider")
    chat: BaseChatModel = getattr(module, class_name)(
        model=settings.model,
        api_key=settings.api_key,
        timeout=settings.sdk_timeout,
        temperature=settings.temperature,
        **options,
        **({"base_url": settings.base_url} if settings.base_url else {}),
    )
    return chat
