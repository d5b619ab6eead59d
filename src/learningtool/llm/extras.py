"""Which package each provider needs, imported only when that provider is built: importing
`learningtool.llm` must not pull in any provider SDK (they are optional extras, and importing
one reads files, which must not happen on the event loop)."""

from __future__ import annotations

import importlib
from types import ModuleType

from learningtool.llm.errors import LlmConfigError

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
