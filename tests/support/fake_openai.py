"""A scripted OpenAI-compatible server on 127.0.0.1 for tests: real HTTP, no network.

    async with FakeOpenAI() as server:
        server.script(error(429, headers={"Retry-After": "0.2"}), completion('{"a": 1}'))
        ...  # point a client at server.base_url
        assert len(server.requests) == 2

`POST /v1/chat/completions` pops the next scripted `Reply`: a JSON body (`completion`,
`error`), a server-sent-event stream (`streamed`), or one that never comes (`hang`).
An unscripted request gets HTTP 418, so a test that makes more calls than it planned fails
loudly (and `server.unexpected` counts them). Built on `asyncio.start_server`: nothing
blocks the loop. Every request is recorded with its JSON body.

For load (benches), `FakeOpenAI(default=...)` answers once the script is empty: a `Reply`
for every such request, or a function of the `SeenRequest` choosing one (e.g. a stream for
`"stream": true`, a JSON verdict otherwise). Each request records, on the server's
`time.perf_counter()` clock, when it was read (`received_at`), when its reply started to go
out after its delay (`answered_at`) and, streamed, when its first non-empty content delta
was written (`first_token_at`), so a caller can subtract the model's own time from what its
client saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

MODEL = "fake-model"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the response starts
    hang: bool = False  # never answer
    stream: list[str] | None = None  # SSE content deltas, in order
    stream_delay: float = 0.0  # between deltas
    stall_after: int | None = None  # stop sending (and hang) after this many deltas
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens


def completion(
    content: str, *, prompt_tokens: int = 10, completion_tokens: int = 5, delay: float = 0.0
) -> Reply:
    """A chat completion whose message is `content`, with usage."""
    return Reply(
        body={
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
        delay=delay,
    )


def error(
    status: int, message: str = "scripted failure", *, headers: dict[str, str] | None = None
) -> Reply:
    """An OpenAI-style error body with `status` (and e.g. a `Retry-After` header)."""
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "scripted", "code": None}},
        headers=dict(headers or {}),
    )


def hang() -> Reply:
    return Reply(hang=True)


def streamed(
    tokens: list[str],
    *,
    usage: tuple[int, int] | None = (7, 3),
    delay: float = 0.0,
    stream_delay: float = 0.0,
    stall_after: int | None = None,
) -> Reply:
    return Reply(
        stream=tokens,
        usage=usage,
        delay=delay,
        stream_delay=stream_delay,
        stall_after=stall_after,
    )


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = 0.0  # perf_counter() once the head and body were read
    answered_at: float | None = None  # perf_counter() when the reply began, after its delay
    first_token_at: float | None = None  # perf_counter() after the first content delta

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    def content(self, role: str) -> list[str]:
        """The text of every message with `role`, in order."""
        texts = []
        for message in self.messages:
            if message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, list):  # content blocks
                content = "".join(part.get("text", "") for part in content)
            texts.append(str(content))
        return texts


DefaultReply = Reply | Callable[[SeenRequest], Reply]


class FakeOpenAI:
    def __init__(self, *, default: DefaultReply | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.default = default  # answers when the script is empty (None: HTTP 418)
        self.requests: list[SeenRequest] = []
        self.unexpected = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def llm_settings(self, settings: Any, timeout: float = 2.0) -> Any:
        """`settings` (the app's) with this server as the configured OpenAI-style model."""
        update = {
            "llm_provider": "openai",
            "llm_base_url": self.base_url,
            "llm_model": "m",
            "llm_api_key": "k",
            "llm_timeout_seconds": timeout,
        }
        return settings.model_copy(update=update)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._one_request(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away (e.g. it timed out): nothing to answer
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        raw = await reader.readexactly(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        seen = SeenRequest(method, path, headers, body, received_at=time.perf_counter())
        self.requests.append(seen)

        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await self._send(writer, error(404, f"no route {method} {path}"))
            return
        reply = self._next_reply(seen)
        if reply is None:
            self.unexpected += 1
            await self._send(writer, error(418, "no scripted reply left"))
            return
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            await asyncio.Event().wait()
        seen.answered_at = time.perf_counter()
        if reply.stream is not None:
            include_usage = bool(
                isinstance(body, dict) and (body.get("stream_options") or {}).get("include_usage")
            )
            await self._send_stream(writer, reply, seen, include_usage=include_usage)
        else:
            await self._send(writer, reply)

    def _next_reply(self, seen: SeenRequest) -> Reply | None:
        """The next scripted reply, else the default one (None when there is neither)."""
        if self.replies:
            return self.replies.popleft()
        if self.default is None:
            return None
        return self.default if isinstance(self.default, Reply) else self.default(seen)

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        payload = (
            reply.body.encode()
            if isinstance(reply.body, str)
            else json.dumps(reply.body if reply.body is not None else {}).encode()
        )
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(payload)),
            "Connection": "close",
            **reply.headers,
        }
        writer.write(_head(reply.status, headers) + payload)
        await writer.drain()

    async def _send_stream(
        self,
        writer: asyncio.StreamWriter,
        reply: Reply,
        seen: SeenRequest,
        *,
        include_usage: bool,
    ) -> None:
        headers = {
            "Content-Type": "text/event-stream",
            "Transfer-Encoding": "chunked",
            "Cache-Control": "no-cache",
            "Connection": "close",
            **reply.headers,
        }
        writer.write(_head(reply.status, headers))
        events: list[Any] = [_chunk({"role": "assistant", "content": ""})]
        await self._event(writer, events[0])
        for index, token in enumerate(reply.stream or []):
            if reply.stall_after is not None and index >= reply.stall_after:
                await asyncio.Event().wait()
            if reply.stream_delay:
                await asyncio.sleep(reply.stream_delay)
            await self._event(writer, _chunk({"content": token}))
            if token and seen.first_token_at is None:
                seen.first_token_at = time.perf_counter()
        await self._event(writer, _chunk({}, finish_reason="stop"))
        if include_usage and reply.usage is not None:
            prompt, completion_tokens = reply.usage
            await self._event(
                writer,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": MODEL,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt + completion_tokens,
                    },
                },
            )
        await self._event(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _event(self, writer: asyncio.StreamWriter, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        event = f"data: {text}\n\n".encode()
        writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        await writer.drain()


def _chunk(delta: dict[str, Any], *, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def _head(status: int, headers: dict[str, str]) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
