"""Settings: every knob of the service, read from `LEARNINGTOOL_*` variables and `.env`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    """XDG data home, so a plain `learningtool serve` keeps its data out of the source tree."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "learningtool"


class Settings(BaseSettings):
    """Configuration with embedded defaults: SQLite and local files in `data_dir`, no API key."""

    model_config = SettingsConfigDict(
        env_prefix="LEARNINGTOOL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default is SQLite in data_dir. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = 8000

    # Web pages
    web_session_days: float = Field(
        default=14, gt=0, description="A browser stays signed in this long (then signs in again)."
    )
    sign_in_link_seconds: float = Field(
        default=600, gt=0, description="The one-time sign-in link printed at start expires then."
    )

    # Rate limits (per process; 0 turns one off)
    rate_sign_in_failures_per_minute: float = Field(
        default=10, ge=0, description="Failed sign-ins per client address (burst 20)."
    )
    rate_sources_per_minute: float = Field(
        default=60, ge=0, description="Sources added per user (burst 60)."
    )
    rate_chat_per_minute: float = Field(
        default=20, ge=0, description="Chat messages per user (burst 10)."
    )
    rate_research_per_minute: float = Field(
        default=6, ge=0, description="Research runs started per user (burst 3)."
    )

    # Jobs
    worker_enabled: bool = Field(default=True, description="Run a job worker inside the app.")
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    job_lease_seconds: float = Field(default=30.0, gt=0)
    job_poll_seconds: float = Field(default=0.5, gt=0)
    job_backoff_seconds: float = Field(default=2.0, ge=0)
    job_modules: list[str] = Field(
        default_factory=list, description="Extra modules to import for job handlers (plugins)."
    )

    # Ingestion
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0, description="Per file.")
    max_text_chars: int = Field(default=5_000_000, gt=0, description="Pasted text.")
    stray_blob_grace_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="At start-up, files in the blob store that no source owns and older than "
        "this are removed (what a crash mid-upload leaves).",
    )
    extract_workers: int = Field(default=2, ge=1, description="Processes for extraction/OCR/ASR.")
    extract_idle_seconds: float = Field(
        default=120.0,
        ge=0,
        description="An extraction process idle this long stops, freeing the OCR and speech "
        "models it loaded (hundreds of MiB); the next file starts one again. 0: never.",
    )
    extract_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Per source, counted while its processing runs."
    )
    extract_memory_mb: int = Field(
        default=4096,
        ge=0,
        description="Address space each processing process may use beyond its start-up "
        "footprint (OCR of a 300 dpi page needs about 1.7 GB; a process that has also "
        "loaded the speech model needs more: 2 GB failed there); 0 for no limit.",
    )
    chunk_max_tokens: int = Field(
        default=240, ge=32, description="Chunk budget; MiniLM embeds only ~256 word-pieces."
    )
    chunk_overlap_tokens: int = Field(default=36, ge=0)
    fetch_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    fetch_timeout_seconds: float = Field(default=20.0, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_allow_loopback: bool = Field(
        default=False,
        description="Allow URL ingestion from loopback addresses (tests, local setups).",
    )

    # Knowledge base
    embedding_provider: Literal["local", "hashing", "openai", "ollama"] = Field(
        default="local",
        description="local: the packaged model (the `embed` extra; without it, hashing); "
        "hashing: no model (tests, minimal installs); openai: any OpenAI-compatible "
        "/v1/embeddings; ollama: /api/embed.",
    )
    embedding_model: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_dim: int | None = Field(default=None, gt=0)
    embedding_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=2048,
        description="Texts per request to an embedding server (default 64) or per task of the "
        "local model's process (default 16: a search's embedding waits for one such task).",
    )
    embedding_query_batch_size: int = Field(
        default=32,
        ge=1,
        le=256,
        description="Concurrent questions embedded together in one task of the local model's "
        "process (1: each alone).",
    )
    embedding_timeout_seconds: float | None = Field(default=None, gt=0)
    embedding_query_prefix: str = ""
    embedding_document_prefix: str = ""
    graph_enabled: bool = Field(default=True, description="Keep a LightRAG graph per notebook.")

    # Language model (none: every generative task uses the offline engine)
    llm_provider: Literal["none", "openai", "anthropic", "gemini"] = Field(
        default="none",
        description="openai: any OpenAI-compatible endpoint (OpenAI, Ollama /v1, vLLM, "
        "llama.cpp server, OpenRouter); anthropic and gemini need their extras.",
    )
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=60.0, gt=0, description="Per call; first token.")
    llm_stream_timeout_seconds: float | None = Field(default=300.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_json_mode: bool = True
    llm_max_output_tokens: int | None = Field(default=None, gt=0)

    # Web search for deep research (none: nothing reaches the network unless configured).
    # The provider's endpoint is the operator's choice and is trusted; result pages are
    # fetched through the URL-ingestion address guard (fetch_allow_loopback applies).
    web_search_provider: Literal["none", "searxng", "tavily", "duckduckgo"] = Field(
        default="none",
        description="searxng: a SearXNG instance with the json format enabled (base URL "
        "required); tavily: the Tavily API (API key required); duckduckgo: its HTML endpoint.",
    )
    web_search_base_url: str | None = Field(
        default=None, description="The provider's root URL; Tavily and DuckDuckGo have defaults."
    )
    web_search_api_key: SecretStr | None = None
    web_search_timeout_seconds: float = Field(default=15.0, gt=0, description="Per provider call.")
    web_search_fetch_pages: int = Field(
        default=3, ge=0, le=20, description="Top results whose page is fetched; 0: snippets only."
    )

    # Observability
    log_level: str = "INFO"
    log_json: bool = True
    loop_lag_interval_seconds: float = Field(default=0.05, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'learningtool.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def token_file(self) -> Path:
        """Where the first start keeps the local user's token (mode 0600), so later starts can
        print it again: a hashed token cannot be shown twice otherwise."""
        return self.data_dir / "local-token"

    @property
    def notebooks_dir(self) -> Path:
        return self.data_dir / "notebooks"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def secret_value(secret: SecretStr | str | None) -> str | None:
    """The plain value of a key setting, None when unset or empty. A str is accepted too:
    `Settings.model_copy(update=...)` does not validate, so a key set that way stays a str."""
    if secret is None:
        return None
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return value or None
