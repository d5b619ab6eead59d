"""Async calls to one chat model: timeouts, retries with backoff, JSON repair and usage.

Properties every generative feature relies on:
- Async only (`ainvoke`/`astream`); nothing here blocks the event loop.
- Every call has a timeout, and transient failures (HTTP 429 and 5xx, timeouts, connection
  errors) are retried with exponential backoff and jitter, honouring `Retry-After`. Other 4xx
  answers are not retried. The provider SDK's own retries are switched off (see the provider
  modules) so that every provider behaves the same way.
- Structured output does not rely on tool calling (small local models lack it): the JSON
  schema goes in the prompt, the provider's JSON mode is used when it has one, the JSON object
  is extracted from the reply, validated, and repaired once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from learningtool.llm.errors import (
    LlmConfigError,
    LlmError,
    LlmOutputError,
    LlmRequestError,
    LlmUnavailable,
)
from learningtool.llm.failures import Failure, classify
from learningtool.llm.prompts import json_instructions, system_prompt
from learningtool.llm.replies import (
    REPLY_ECHO_MAX_CHARS,
    ReplyInvalid,
    parse_reply,
    repair_prompt,
    text_of,
    usage_of,
)
from learningtool.llm.settings import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_SECONDS
from learningtool.llm.usage import Result, Usage, UsageSink

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = structlog.get_logger(__name__)

T = TypeVar("T", bound=BaseModel)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 20.0
RETRY_AFTER_MAX_SECONDS = 60.0


class LlmClient:
    """Async calls to one chat model with timeouts, retries, JSON repair and usage accounting.

    `timeout` bounds each model call (and the wait for a stream's first token);
    `stream_timeout` bounds a whole stream (default: `timeout`). `max_retries` is the number
    of retries after the first attempt for transient failures. `json_mode` holds the per-call
    arguments that switch on the provider's JSON mode ({} for none); if the endpoint rejects
    them (HTTP 400), the client drops them for good and asks again without.
    """

    def __init__(
        self,
        model: BaseChatModel,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        stream_timeout: float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        json_mode: Mapping[str, Any] | None = None,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        retry_after_max: float = RETRY_AFTER_MAX_SECONDS,
        secret: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise LlmConfigError("llm_timeout_seconds must be positive")
        self.model = model
        self.timeout = timeout
        self.stream_timeout = stream_timeout if stream_timeout else timeout
        self.max_retries = max(0, max_retries)
        self.json_mode: dict[str, Any] = dict(json_mode or {})
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._secret = secret

    # -- structured output --------------------------------------------------------------------

    async def structured(
        self,
        *,
        system: str,
        user: str,
        schema: type[T],
        task: str,
        usage: UsageSink | None = None,
    ) -> Result[T]:
        """A reply validated by `schema`. One repair attempt on a bad reply, then
        `LlmOutputError`. Transport failures raise `LlmUnavailable` (after retries),
        `LlmRequestError` or `LlmConfigError`."""
        messages: list[BaseMessage] = [
            SystemMessage(f"{system_prompt(system)}\n\n{json_instructions(schema)}"),
            HumanMessage(user),
        ]
        spent = Usage()
        for attempt in (1, 2):  # the reply, then one repair that is shown what was wrong
            reply, used = await self._complete(messages, task=task, usage=usage)
            spent += used
            try:
                return Result(parse_reply(reply, schema), spent, attempts=attempt)
            except ReplyInvalid as invalid:
                problem = invalid
            if attempt == 1:
                log.info("llm_reply_invalid", task=task, attempt=1, errors=problem.errors)
                messages = [
                    *messages,
                    AIMessage(reply[:REPLY_ECHO_MAX_CHARS]),
                    HumanMessage(repair_prompt(problem)),
                ]
        log.warning("llm_reply_invalid", task=task, attempt=2, errors=problem.errors)
        raise LlmOutputError(
            f"the model's reply for {task!r} {problem.problem} even after a repair "
            f"attempt: {'; '.join(problem.errors[:3])}",
            task=task,
            errors=problem.errors,
            attempts=2,
            usage=spent,
            last_reply=reply[:2000],
        ) from None

    async def text(
        self, *, system: str, user: str, task: str, usage: UsageSink | None = None
    ) -> tuple[str, Usage]:
        """A free-text reply (Markdown, prose) and its token use, with the same retries as
        every call; never in JSON mode."""
        messages: list[BaseMessage] = [SystemMessage(system_prompt(system)), HumanMessage(user)]
        return await self._complete(messages, task=task, usage=usage, json=False)

    async def _complete(
        self,
        messages: list[BaseMessage],
        *,
        task: str,
        usage: UsageSink | None,
        json: bool = True,
    ) -> tuple[str, Usage]:
        """One model reply (with retries), in JSON mode when the provider has one and `json`
        asks for it; its token use goes to `usage`."""
        json_mode = self.json_mode if json else {}
        try:
            message = await self._with_retries(
                lambda: self.model.ainvoke(messages, **json_mode), task=task
            )
        except LlmRequestError as error:
            if not json_mode or error.status != 400 or error.context_overflow:
                raise
            log.warning("llm_json_mode_rejected", task=task, detail=error.message)
            self.json_mode = {}
            message = await self._with_retries(lambda: self.model.ainvoke(messages), task=task)
        used = usage_of([message])
        if usage is not None:
            usage.record(task, used)
        return text_of(message), used

    # -- streaming ----------------------------------------------------------------------------

    async def stream_text(
        self,
        *,
        system: str,
        user: str,
        task: str = "answer",
        usage: UsageSink | None = None,
    ) -> AsyncGenerator[str, None]:
        """The reply's text as it arrives. The first token must come within `timeout` (a
        failure before it is retried like any call) and the whole stream within
        `stream_timeout`; a failure after tokens were yielded raises `LlmUnavailable`."""
        messages: list[BaseMessage] = [SystemMessage(system_prompt(system)), HumanMessage(user)]
        attempt = 0
        while True:
            attempt += 1
            failure: Failure | None = None
            chunks: list[BaseMessage] = []
            yielded = False
            started = asyncio.get_running_loop().time()
            deadline = started + self.stream_timeout
            first_deadline = min(deadline, started + self.timeout)
            stream = self.model.astream(messages)
            try:
                while True:
                    timer = asyncio.timeout_at(deadline if yielded else first_deadline)
                    try:
                        async with timer:
                            chunk = await anext(stream)
                    except StopAsyncIteration:
                        return
                    except Exception as error:
                        if isinstance(error, TimeoutError) and timer.expired():
                            if yielded:
                                raise LlmUnavailable(
                                    f"the model's answer took longer than {self.stream_timeout:g} s"
                                ) from None
                            failure = Failure(True, f"no first token within {self.timeout:g} s")
                        else:
                            failure = classify(error)
                            if failure is None:
                                raise
                            if yielded:
                                raise LlmUnavailable(
                                    f"the model's answer broke off: {failure.reason}"
                                ) from None
                        break
                    chunks.append(chunk)
                    text = text_of(chunk)
                    if text:
                        yielded = True
                        yield text  # outside the `try` above: nothing thrown in is misread
            finally:
                await _aclose(stream)
                if usage is not None and chunks:
                    usage.record(task, usage_of(chunks))
            # Nothing was given out yet, so the whole stream can be asked for again.
            await self._after_failure(failure, attempt=attempt, task=task)

    # -- retries ------------------------------------------------------------------------------

    async def _with_retries(
        self, call: Callable[[], Awaitable[BaseMessage]], *, task: str
    ) -> BaseMessage:
        attempt = 0
        while True:
            attempt += 1
            timer = asyncio.timeout(self.timeout)
            try:
                async with timer:
                    return await call()
            except Exception as error:
                if isinstance(error, TimeoutError) and timer.expired():
                    failure = Failure(True, f"no reply within {self.timeout:g} s")
                else:
                    classified = classify(error)
                    if classified is None:
                        raise
                    failure = classified
            await self._after_failure(failure, attempt=attempt, task=task)

    async def _after_failure(self, failure: Failure, *, attempt: int, task: str) -> None:
        """Raise the typed error for `failure`, or sleep before the next attempt."""
        if not failure.retryable:
            raise self._final_error(failure)
        if attempt > self.max_retries:
            raise LlmUnavailable(
                f"the language model is unavailable: {failure.reason} "
                f"({attempt} attempt{'s' if attempt > 1 else ''})",
                details={"attempts": attempt, "status": failure.status},
            )
        delay = self._backoff(attempt)
        if failure.retry_after is not None:
            delay = min(max(failure.retry_after, delay), self.retry_after_max)
        log.warning(
            "llm_retry", task=task, attempt=attempt, reason=failure.reason, delay=round(delay, 3)
        )
        await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter: half the step fixed, half random ("equal jitter")."""
        step = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)

    def _final_error(self, failure: Failure) -> LlmError:
        detail = self._redact(failure.detail)
        if failure.status in (401, 403):
            return LlmConfigError(
                f"the LLM endpoint refused the credentials (HTTP {failure.status}): "
                "check llm_api_key"
            )
        if failure.status == 404:
            suffix = f": {detail}" if detail else ""
            return LlmConfigError(
                f"the LLM endpoint does not know this model or path (HTTP 404): check "
                f"llm_model and llm_base_url{suffix}"
            )
        if failure.context_overflow:
            return LlmRequestError(failure.reason, context_overflow=True)
        suffix = f": {detail}" if detail else ""
        return LlmRequestError(
            f"the LLM endpoint rejected the request ({failure.reason}){suffix}",
            status=failure.status,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text


async def _aclose(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception as error:  # closing a broken stream must not hide the real error
            log.debug("llm_stream_close_failed", error=type(error).__name__)
