"""The LLM client layer: the only place that builds chat models, and the one way to call them.

    LlmSettings.from_settings(settings) -> LlmSettings     (typed, checked configuration)
    build_chat_model(llm_settings)   -> BaseChatModel | None  (sync, imports + TLS: not on the loop)
    await create_llm_client(...)     -> LlmClient | None      (builds in a thread, off the loop)
    LlmClient.structured(...)        -> Result[T]             (JSON validated by a pydantic model)
    LlmClient.stream_text(...)       -> AsyncIterator[str]    (tokens as they arrive)
    delimit(label, text)             wraps source text so the model treats it as data

Modules: `settings` (what is configured), `factory` (building), one module per provider
(`openai_compatible`, `anthropic`, `gemini`), `client` (calls, retries, repair), `failures`
(what is retried), `replies` (JSON extraction, token counts), `prompts`, `usage`, `errors`.
Failures are typed (`LlmUnavailable`, `LlmOutputError`, `LlmConfigError`, `LlmRequestError`)
with messages fit to show a user; none carries the API key or the prompt.
"""

from learningtool.llm.client import LlmClient
from learningtool.llm.errors import (
    LlmConfigError,
    LlmError,
    LlmOutputError,
    LlmRequestError,
    LlmUnavailable,
)
from learningtool.llm.factory import build_chat_model, create_llm_client, json_mode_kwargs
from learningtool.llm.prompts import SOURCE_DATA_RULE, delimit, json_instructions
from learningtool.llm.replies import extract_json
from learningtool.llm.settings import LlmSettings
from learningtool.llm.usage import Result, Usage, UsageRecorder, UsageSink

__all__ = [
    "SOURCE_DATA_RULE",
    "LlmClient",
    "LlmConfigError",
    "LlmError",
    "LlmOutputError",
    "LlmRequestError",
    "LlmSettings",
    "LlmUnavailable",
    "Result",
    "Usage",
    "UsageRecorder",
    "UsageSink",
    "build_chat_model",
    "create_llm_client",
    "delimit",
    "extract_json",
    "json_instructions",
    "json_mode_kwargs",
]
