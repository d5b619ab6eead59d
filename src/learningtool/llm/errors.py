"""The typed failures of the LLM layer. Each message is fit to show a user and never carries
the API key or the prompt; `retryable` tells job handlers whether a later run may succeed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from learningtool.errors import AppError

if TYPE_CHECKING:
    from learningtool.llm.usage import Usage


class LlmError(AppError):
    """Every failure of this layer. `message` is safe to show a user; `retryable` says whether
    running the same job again later may succeed (job handlers pass it on to `JobError`)."""

    status_code = 502
    code = "llm_error"
    retryable = True


class LlmUnavailable(LlmError):
    """The model could not be reached or did not answer in time, after retries."""

    status_code = 503
    code = "llm_unavailable"


class LlmOutputError(LlmError):
    """The model answered, but not with what was asked, even after one repair attempt."""

    status_code = 502
    code = "llm_bad_output"

    def __init__(
        self,
        message: str,
        *,
        task: str,
        errors: list[str],
        attempts: int,
        usage: Usage,
        last_reply: str = "",
    ) -> None:
        super().__init__(message, details={"task": task, "errors": errors, "attempts": attempts})
        self.task = task
        self.errors = errors
        self.attempts = attempts
        self.usage = usage
        self.last_reply = last_reply  # for logs and debugging; not part of `details`


class LlmConfigError(LlmError):
    """The LLM is misconfigured: unknown provider, missing extra, model or key; or the endpoint
    refused the credentials or does not know the model. Retrying will not help."""

    status_code = 503
    code = "llm_misconfigured"
    retryable = False


class LlmRequestError(LlmError):
    """The endpoint rejected this request (a 4xx other than 429, e.g. input too long)."""

    status_code = 502
    code = "llm_request_rejected"
    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, context_overflow: bool = False
    ) -> None:
        super().__init__(message, details={"status": status} if status else None)
        self.status = status
        self.context_overflow = context_overflow  # callers may retry with less text
