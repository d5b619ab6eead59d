"""What the LLM layer needs from the configuration, typed and checked once: the app's
`Settings` carry many unrelated fields and secrets wrapped for logging, so they are turned
into an `LlmSettings` at the edge and nothing below reads attributes by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from learningtool.config import secret_value
from learningtool.llm.errors import LlmConfigError

if TYPE_CHECKING:
    from learningtool.config import Settings

PROVIDERS = ("none", "openai", "anthropic", "gemini")
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_TEMPERATURE = 0.2
SDK_TIMEOUT_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class LlmSettings:
    """The chat model to build and how to call it. Normalised on creation (provider in lower
    case, blank strings as None) and refused with `LlmConfigError` for an unknown provider.
    `api_key` is the plain key: it is kept out of `repr` so it never reaches a log."""

    provider: str = "none"
    model: str = ""
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    stream_timeout_seconds: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    temperature: float = DEFAULT_TEMPERATURE
    json_mode: bool = True
    max_output_tokens: int | None = None

    def __post_init__(self) -> None:
        provider = self.provider.strip().lower()
        if provider not in PROVIDERS:
            raise LlmConfigError(
                f"unknown LLM provider {provider!r}: choose one of {', '.join(PROVIDERS)}"
            )
        object.__setattr__(self, "provider", provider)
        object.__setattr__(self, "model", self.model.strip())
        object.__setattr__(self, "base_url", (self.base_url or "").strip() or None)
        object.__setattr__(self, "api_key", self.api_key or None)

    @property
    def sdk_timeout(self) -> float:
        """The SDK's HTTP timeout, a backstop: `LlmClient` enforces `timeout_seconds` itself."""
        return self.timeout_seconds + SDK_TIMEOUT_MARGIN_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmSettings:
        return cls(
            provider=settings.llm_provider,
            model=settings.llm_model or "",
            base_url=settings.llm_base_url,
            api_key=secret_value(settings.llm_api_key),
            timeout_seconds=settings.llm_timeout_seconds,
            stream_timeout_seconds=settings.llm_stream_timeout_seconds,
            max_retries=settings.llm_max_retries,
            temperature=settings.llm_temperature,
            json_mode=settings.llm_json_mode,
            max_output_tokens=settings.llm_max_output_tokens,
        )

    @classmethod
    def of(cls, settings: Settings | LlmSettings) -> LlmSettings:
        return settings if isinstance(settings, LlmSettings) else cls.from_settings(settings)
